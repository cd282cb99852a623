"""drupgrade.runner: what the upgrade commands share (the cluster's versions, the plan, the end of a
command), against fakes of the transport and the node lock."""
import os

import pytest

from drupgrade import compat, engine, nodelock, product, runner
from drupgrade import transport as transport_mod
from drupgrade.errors import DrupgradeError
from drupgrade.transport.result import CommandResult


class Node:
    def __init__(self, name):
        self.name, self.host, self.roles = name, "10.0.0.%s" % name[-1], ["app"]


class Cfg:
    def __init__(self, tmp_path, names=("node1", "node2", "node3")):
        self.nodes = [Node(n) for n in names]
        self.run = {"max_parallel": 2}
        self.paths = {"state_dir": str(tmp_path)}
        self.product_name = "drp"

    def section(self, name):
        return {}


class Ctx:
    def __init__(self, cfg):
        self.config = cfg
        self.console = None
        self.root = "/nonexistent"
        self.args = None


class Transport:
    """Each node's VERSION file (None: ssh fails to reach it)."""

    def __init__(self, files):
        self.files = files
        self.closed = 0

    def run(self, node, command, **_kw):
        assert command == ["bash", "-c", product.READ, "drversion", product.load("drp").version_file]
        text = self.files[node.name]
        if text is None:
            why = "ssh: connect to host %s port 22: No route to host" % node.host
            return CommandResult(node.name, "cat", 255, "", why)
        return CommandResult(node.name, "cat", 0 if text else 1, text, "")

    def close(self):
        self.closed += 1


def make(tmp_path, monkeypatch, files):
    t = Transport(files)
    monkeypatch.setattr(transport_mod.Transport, "from_config", lambda cfg, console=None: t)
    return runner.Runner(Ctx(Cfg(tmp_path))), t


def test_detect_versions_reads_every_node_through_the_one_reader(tmp_path, monkeypatch):
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.1.0\n", "node2": "v2.1.0\n", "node3": ""})
    assert r.detect_versions() == {"node1": "2.1.0", "node2": "2.1.0", "node3": "none"}
    assert r.connect_s is not None


def test_unreachable_nodes_are_named_with_their_reasons(tmp_path, monkeypatch):
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.1.0\n", "node2": None, "node3": None})
    with pytest.raises(DrupgradeError) as exc:
        r.detect_versions()
    assert exc.value.code == 1 and "node2 (10.0.0.2): ssh: connect to host 10.0.0.2" in exc.value.message
    assert "node3 (10.0.0.3)" in exc.value.message and "node1" not in exc.value.message


def test_a_version_file_that_holds_no_version_stops_the_plan_naming_the_node(tmp_path, monkeypatch):
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.1.0\n", "node2": "2.1.0; reboot\n", "node3": "2.1.0\n"})
    with pytest.raises(product.NotAVersion) as exc:
        r.plan("2.2.0", "auto")
    assert exc.value.code == 1 and "node node2: /opt/drp/VERSION holds '2.1.0; reboot'" in exc.value.message


def test_mixed_versions_are_planned_per_node_and_missing_installs_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.compat, "load", lambda prod: [])  # the checks of a mixed plan: test_compat.py
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.1.0\n", "node2": "2.0.0\n", "node3": "2.1.0\n"})
    r.ctx.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    hops, kind, found = r.plan("2.2.0", "auto")
    assert kind == "combined_upgrade" and hops == [("2.0.0", "2.1.0"), ("2.1.0", "2.2.0")]
    assert found["node2"] == "2.0.0" and r.cluster_plan.hop_nodes[0] == ["node2"]
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.1.0\n", "node2": "", "node3": "2.1.0\n"})
    with pytest.raises(DrupgradeError, match="no installed drp found on: node2"):
        r.plan("2.2.0", "auto")


class Lock:
    released = 0

    def __init__(self, *_a, **_kw):
        self.key = "holder-key"
        self.record = [("key", self.key), ("run_id", "run_20261202_100000")]  # nodelock.NodeLock's holder record

    def claim(self, take_over=False):
        return self

    def release(self):
        Lock.released += 1


@pytest.mark.parametrize("error, released", [
    (None, 1),  # the command ended: the nodes are given back
    (DrupgradeError("a step failed"), 1),
    (KeyboardInterrupt(), 1),
    (engine.NodeLost("node1 is out of reach"), 0),  # its runs may live there: the lock keeps others off
])
def test_a_command_ends_its_node_lock_and_transport_as_a_context_manager(tmp_path, monkeypatch, error, released):
    monkeypatch.setattr(nodelock, "NodeLock", Lock)
    Lock.released = 0
    r, t = make(tmp_path, monkeypatch, {})
    with pytest.raises(type(error)) if error else _nothing():
        with r:
            r.claim_nodes("run_1", "upgrade.sh", "run --to 2.2.0")
            assert r.holder == "holder-key"
            if error:
                raise error
    assert Lock.released == released and t.closed == 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_plan_resolves_every_hops_strategy_before_anything_runs(tmp_path, monkeypatch):
    r, _t = make(tmp_path, monkeypatch, {"node1": "1.0.0\n", "node2": "1.0.0\n", "node3": "1.0.0\n"})
    r.ctx.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setattr(compat, "load", lambda _product: [])  # the checks: tests/unit/test_compat.py
    hops, kind, _found = r.plan("2.2.0", "progressive")
    assert kind == "progressive_upgrade" and hops[0] == ("1.0.0", "1.5.0")
    chosen = r.strategies(hops)
    assert [chosen[h][0].id for h in hops] == ["drp_v1_minor"] + ["drp_to_v2"] * (len(hops) - 1)
    assert "create_service_db" not in chosen[hops[0]][1] and "create_service_db" in chosen[hops[1]][1]


def test_a_hop_whose_strategy_rolls_is_planned_wave_by_wave_or_says_why_not(tmp_path, monkeypatch):
    class Rolls:
        id, rolling = "drp_rolling", True
    monkeypatch.setattr(runner.compat, "load", lambda prod: [])
    monkeypatch.setattr(runner.strategies, "for_hop", lambda name, root, src, dst: (Rolls(), {}))
    unsplit = []
    monkeypatch.setattr(runner.Runner, "unsplit_migrations", lambda self, prod, hop: unsplit)
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.2.0\n", "node2": "2.2.0\n", "node3": "2.2.0\n"})
    r.cfg.nodes[0].roles = ["db_primary", "app"]
    r.cfg.nodes[1].roles = ["db_replica", "app"]
    hops, _kind, _found = r.plan("2.3.0", "auto")
    assert hops == [("2.2.0", "2.3.0")] * 3 and r.cluster_plan.waves == [[1, 3], [2, 3], [3, 3]]
    assert r.cluster_plan.hop_nodes == [["node2"], ["node3"], ["node1"]] and r.cluster_plan.roll_reasons == {}
    unsplit.append("0006_2.3.0_schema_job_events")
    r, _t = make(tmp_path, monkeypatch, {"node1": "2.2.0\n", "node2": "2.2.0\n", "node3": "2.2.0\n"})
    hops, _kind, _found = r.plan("2.3.0", "auto")
    assert hops == [("2.2.0", "2.3.0")] and r.cluster_plan.waves == [None]
    assert r.cluster_plan.roll_reasons == {
        ("2.2.0", "2.3.0"): "its database migrations are not split into expand and contract: "
                            "0006_2.3.0_schema_job_events"}
