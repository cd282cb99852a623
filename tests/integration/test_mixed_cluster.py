"""A mixed cluster (issue 16, point 3), the issue's own `make lab-install VERSION=2.0.0
MIXED=node3=2.1.0`: node3 was upgraded to 2.1.0 by hand (and, as drp's by-hand procedure says, the
primary took 2.1.0's schema), node1 and node2 (the database nodes) still run 2.0.0. One install,
one run to 2.2.0, one rollback:

- every node is healthy before the run (the install's health table);
- `plan` shows each node's path and the order: hop 1 brings node1 and node2 up to 2.1.0, hop 2
  takes the whole cluster to 2.2.0 (combined mode), and the compatibility checks of each part, read
  live where the state is at the hop's source (the database's schema already at 2.1.0); the
  journal says which hop upgrades which node;
- the run converges every node on 2.2.0 and the state checks of 2.2.0 pass;
- `rollback_tool auto latest` takes every node back to its own version before the run, exactly:
  node1 and node2 from hop 1's backup (2.0.0, the database too), node3 from hop 2's (2.1.0); the
  snapshot of every node (fingerprint and exact_state.sh) equals the one before the run.
"""
import os
import re

import pytest
from labtools import TOP, Controller, diff, install, snapshot, state_check

PHASES = ("init", "distribute_tool", "precheck", "distribute_package", "backup", "upgrade", "postcheck")

pytestmark = pytest.mark.usefixtures("lab")


class Rollback(Controller):
    tool = os.path.join(TOP, "bin", "rollback_tool")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    install("2.0.0", mixed="node3=2.1.0")  # exits 1 unless every node is healthy
    tmp = tmp_path_factory.mktemp("mixed")
    up, rb = Controller(tmp), Rollback(tmp)
    rb.config = up.config
    before = snapshot()
    plan = up.json("plan", "--to", "2.2.0")["upgrade_plan"]
    text = up("plan", "--to", "2.2.0")
    # on a real terminal (issue 18): 80 columns, in Chinese; the rollback below at 160, in English
    shown = up.on_screen(80, "zh", "run", "--to", "2.2.0")
    return {"before": before, "plan": plan, "text": text, "shown": shown, "up": up, "rb": rb}


def test_the_plan_shows_each_nodes_path_and_the_run_converges_them_on_the_target(mixed):
    plan = mixed["plan"]
    assert plan["upgrade_mode"] == "combined_upgrade"
    assert {n: p["path"] for n, p in plan["nodes_paths"].items()} == {
        "node1": ["v2.0.0", "v2.1.0", "v2.2.0"], "node2": ["v2.0.0", "v2.1.0", "v2.2.0"], "node3": ["v2.1.0", "v2.2.0"]}
    assert plan["order"] == [{"hop": "hop1", "from": "v2.0.0", "to": "v2.1.0", "nodes": ["node1", "node2"]},
                             {"hop": "hop2", "from": "v2.1.0", "to": "v2.2.0", "nodes": ["node1", "node2", "node3"]}]
    # the compatibility checks of each part, read live where the state is at the hop's source
    checks = {(c["check"], c["hop"], c["node"]): (c["result"], c["detail"]) for c in plan["compatibility_checks"]}
    assert not [k for k, (res, _d) in checks.items() if res == "fail"], checks
    assert checks[("drp_schema_2_0_0", "v2.0.0 -> v2.1.0", "node1")] == (
        "skip", "its state is at 2.1.0 already, past 2.0.0: this hop has nothing of it left to change")
    assert checks[("drp_schema_2_1_0", "v2.1.0 -> v2.2.0", "node1")][0] == "pass"  # the schema is at 2.1.0
    assert checks[("drp_api", "v2.0.0 -> v2.1.0", "node1")][0] == "pass"
    assert checks[("drp_api", "v2.1.0 -> v2.2.0", "node3")][0] == "pass"
    assert checks[("drp_api", "v2.1.0 -> v2.2.0", "node1")][0] == "skip"
    assert not [k for k in checks if k[1] == "v2.0.0 -> v2.1.0" and k[2] == "node3"]  # not in the catch-up
    assert "hop1: v2.0.0 -> v2.1.0 on node1, node2" in mixed["text"]
    assert "  node3      v2.1.0 -> v2.2.0" in mixed["text"]
    j = mixed["up"].journal()
    assert j["status"] == "done" and j["hop_nodes"] == {"hop1": ["node1", "node2"], "hop2": ["node1", "node2", "node3"]}
    assert not [k for k in j["results"] if k.startswith("hop1/") and k.endswith("/node3")]
    assert {n["current_version"] for n in mixed["up"].status()["nodes"].values()} == {"v2.2.0"}
    state_check("2.2.0")


def test_the_run_on_an_80_column_terminal_in_chinese_is_one_live_display_and_ends_with_its_summary(mixed):
    """Issue 18: every phase shows, the node table is redrawn in place (never stacked, no transfer
    bar twice, no row wrapped, no line wider than the pane), the summary stays at the end."""
    shown = mixed["shown"]
    shown.assert_clean(marker="升级运行 run_")
    for phase in PHASES:  # the log lines above the display: every phase of every hop
        assert "[%s]" % phase in shown.text, phase
    table = re.compile(r"^(node[0-9]|controller) +(%s|○) " % "|".join(PHASES))  # the display's rows
    rows = [ln for frame in shown.frames for ln in frame.splitlines() if table.match(ln)]
    cut = [ln for ln in rows if not re.search(r"[░█]+ [0-9]+/[0-9]+", ln)]
    assert rows and not cut, cut  # a row never wraps: its progress is on its line
    assert len({ln.split()[1] for ln in rows if ln.split()[1] in PHASES}) >= 3  # phases follow one another
    end = shown.last[shown.last.index("升级运行 run_"):]
    assert "：完成" in end.splitlines()[0] and "下一步" in end  # the status word in the operator's language
    for node, before in (("node1", "2.0.0"), ("node2", "2.0.0"), ("node3", "2.1.0")):
        assert re.search(r"%s +%s -> 2\.2\.0 +正常" % (node, before), end), end


def test_rollback_takes_every_node_back_to_its_own_version_exactly(mixed):
    shown = mixed["rb"].on_screen(160, "en", "--yes", "auto", "latest")
    out = shown.words()
    assert "every node is back at its own version before the run: node1=2.0.0, node2=2.0.0, node3=2.1.0" in out
    # on a terminal of 160 columns: its box redrawn in place, its summary at the end
    shown.assert_clean(marker="system rollback progress")
    assert any("system rollback progress" in frame for frame in shown.frames)
    end = shown.last[shown.last.index("system rollback progress"):]
    assert "100% (6/6 steps done)" in end and re.search(r"rollback rollback_[0-9_]+: done", end)
    for node, after in (("node1", "2.0.0"), ("node2", "2.0.0"), ("node3", "2.1.0")):
        assert re.search(r"%s +2\.2\.0 -> %s +ok" % (node, after), end), end
    now = snapshot()
    assert now == mixed["before"], "the nodes differ from their state before the run:\n" + diff(mixed["before"], now)
