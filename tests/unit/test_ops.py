"""The ops interface the engine uses (drupgrade/ops.py): the real ops and the engine tests' fakes
follow it method for method, so a fake cannot drift from what the engine gets on a lab."""
import inspect
import os
import sys

import pytest

from drupgrade import engine, nodeops, ops

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine"))
from test_engine import FakeOps  # noqa: E402

INTERFACE = sorted(name for name, fn in vars(ops.NodeOpsBase).items() if inspect.isfunction(fn))


def test_the_interface_is_what_the_engine_calls():
    source = inspect.getsource(engine)
    called = {name for name in INTERFACE if "ops.%s(" % name in source}
    assert called == set(INTERFACE)
    assert INTERFACE == ["cancel_local", "check", "cleanup", "context", "follow_with", "latency_ms", "local",
                         "open_gate", "resources", "settle", "start", "stop_run", "wait"]


@pytest.mark.parametrize("cls", [nodeops.NodeOps, FakeOps])
def test_the_real_ops_and_the_fakes_implement_every_method_with_its_signature(cls):
    assert issubclass(cls, ops.NodeOpsBase)
    for name in INTERFACE:
        impl, contract = getattr(cls, name), getattr(ops.NodeOpsBase, name)
        assert impl is not contract, "%s.%s is missing" % (cls.__name__, name)
        assert inspect.signature(impl) == inspect.signature(contract), "%s.%s" % (cls.__name__, name)


def test_the_contract_alone_does_nothing():
    with pytest.raises(NotImplementedError):
        ops.NodeOpsBase().wait(None, "r", 1, None)


def test_nodeops_does_not_import_the_engine():
    source = inspect.getsource(nodeops)
    assert "drupgrade.engine" not in source and "import engine" not in source
    assert nodeops.RunLost is ops.RunLost is engine.RunLost
