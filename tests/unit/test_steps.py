"""drupgrade.steps: node steps as the controller reads them from their headers."""
import os

import pytest

from drupgrade import i18n, retry_policy, steps
from drupgrade.errors import EXIT_USAGE, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICIES = os.path.join(TOP, "conf", "retry_policy.json")

GOOD = """#!/usr/bin/env bash
# Summary: stop the services
# Summary-zh: 停止服务
# Phase: backup
# Timeout: 60
# Retry: direct
# Roles: db_primary, app
# Barrier: node
# Summary: a second Summary line does not count
source x
# Timeout: 5 (after the header: not read)
"""


def write(tmp_path, phase, name, text):
    d = tmp_path / phase
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return str(d / name)


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")
    yield
    i18n.set_lang("en")


def test_every_shipped_step_declares_itself_validly_in_run_order():
    found = steps.discover(os.path.join(TOP, "scripts", "steps"), retry_policy.load(POLICIES))
    assert found, "no steps found"
    order = [(steps.PHASES.index(s.phase), s.order) for s in found]
    assert order == sorted(order)
    assert len({s.name for s in found}) == len(found)


def test_the_header_is_read_up_to_its_end_and_the_first_value_counts(tmp_path):
    path = write(tmp_path, "backup", "10-stop.sh", GOOD)
    header = steps.read_header(path)
    assert header["Summary"] == "stop the services" and header["Timeout"] == "60"
    (s,) = steps.discover(str(tmp_path), {"direct": {}})
    assert (s.name, s.order, s.phase, s.timeout, s.retry, s.barrier) == ("stop", 10, "backup", 60, "direct", "node")
    assert s.roles == ["db_primary", "app"] and s.fanout == "parallel" and s.kind == "file"


def test_a_step_summary_in_the_operators_language(tmp_path):
    write(tmp_path, "backup", "10-stop.sh", GOOD)
    (s,) = steps.discover(str(tmp_path), {"direct": {}})
    assert s.summary == "stop the services"
    i18n.set_lang("zh")
    assert s.summary == "停止服务"
    s.summary_zh = ""
    assert s.summary == "stop the services"  # no zh text: the English one


def test_a_bad_declaration_is_exit_2_naming_the_file_and_every_problem(tmp_path):
    bad = GOOD.replace("# Phase: backup", "# Phase: upgrade").replace("# Timeout: 60", "# Timeout: soon").replace(
        "# Retry: direct", "# Retry: sometimes").replace("# Summary-zh: 停止服务\n", "").replace(
        "# Barrier: node", "# Barrier: wall")
    path = write(tmp_path, "backup", "10-stop.sh", bad)
    with pytest.raises(DrupgradeError) as exc:
        steps.discover(str(tmp_path), {"direct": {}})
    e = exc.value
    assert e.code == EXIT_USAGE and path in e.message
    for problem in ("phase 'upgrade' but the file is under backup/", "Timeout must be a positive number",
                    "Retry 'sometimes' is not a policy", "Barrier 'wall' is not one of",
                    "Summary and Summary-zh are both required"):
        assert problem in e.message


def test_a_step_name_is_one_step_across_phases_and_other_files_are_ignored(tmp_path):
    write(tmp_path, "backup", "10-stop.sh", GOOD)
    write(tmp_path, "backup", "README.md", "not a step")
    write(tmp_path, "backup", "20-Upper.sh", GOOD)  # not NN-name.sh with a lowercase name
    write(tmp_path, "upgrade", "10-stop.sh", GOOD.replace("# Phase: backup", "# Phase: upgrade"))
    with pytest.raises(DrupgradeError, match="the step name is also used by .*backup/10-stop.sh"):
        steps.discover(str(tmp_path), {"direct": {}})


def test_a_step_runs_on_the_nodes_of_its_roles(tmp_path):
    write(tmp_path, "backup", "10-stop.sh", GOOD)
    (s,) = steps.discover(str(tmp_path), {"direct": {}})

    class Node:
        def __init__(self, *roles):
            self.roles = list(roles)
    assert s.runs_on(Node("app")) and s.runs_on(Node("db_primary", "etcd")) and not s.runs_on(Node("etcd"))
