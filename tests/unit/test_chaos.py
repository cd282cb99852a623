"""bench/chaos.py without a lab: a trial's draws come from its seed alone, the operator follows the
tool's advice, and the report table lists every trial (issue 19, docs/reliability.md)."""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench"))

import chaos  # noqa: E402
import chaos_report  # noqa: E402

STEPS = ["backup_db", "install", "unzip"]
NODES = ["node1", "node2", "node3"]


def test_the_draws_depend_on_the_seed_and_the_trial_alone():
    one = chaos.draw(random.Random("7.3"), STEPS, NODES, 100)
    assert one == chaos.draw(random.Random("7.3"), STEPS, NODES, 100)
    kinds = {f["kind"] for i in range(200) for f in chaos.draw(random.Random("7.%d" % i), STEPS, NODES, 100)}
    assert kinds == set(chaos.FAULTS)
    for i in range(200):
        for f in chaos.draw(random.Random("8.%d" % i), STEPS, NODES, 100):
            assert f["node"] in NODES and 0 <= f["event"] <= 90
            if f["kind"] == "cut_long":
                assert f["seconds"] > chaos.BUDGET
            if f["kind"] == "cut_short":
                assert f["seconds"] < chaos.BUDGET
            if f["kind"] == "hang":
                assert f["event"] == 0 and f["step"] in STEPS and f["count"] in (1, 9)
    only = chaos.draw(random.Random("9.1"), STEPS, NODES, 100, ("cut_long",))
    assert {f["kind"] for f in only} == {"cut_long"}


class Ctl:
    def __init__(self, status):
        self.status = status

    def journal(self):
        return {"status": self.status, "events": []}


def operator(killed=False):
    trial = chaos.Trial.__new__(chaos.Trial)
    trial.killed = killed
    return trial


RUN = (chaos.labtools.UPGRADE, ["run", "--to", "2.2.0"])


def test_the_operator_follows_the_tools_advice():
    lost = "[ERROR] lost contact with node node1\n[ERROR] run 'bin/upgrade.sh resume' when the link is back\n"
    assert operator().next_command(Ctl("running"), 1, lost, RUN) == (chaos.labtools.UPGRADE, ["resume"])
    failed = "[ERROR] what to do: fix it, then 'bin/upgrade.sh retry'\n"
    assert operator().next_command(Ctl("failed"), 1, failed, RUN) == (chaos.labtools.UPGRADE, ["retry"])
    stopped = "[ERROR] ... or continue with 'bin/rollback_tool auto_continue_from 3'\n"
    assert operator().next_command(Ctl("rolling_back"), 1, stopped, RUN) == (
        chaos.ROLLBACK, ["--yes", "auto_continue_from", "3"])
    # a killed run is resumed, a killed rollback_tool command run again
    assert operator(killed=True).next_command(Ctl("running"), -9, "", RUN) == (chaos.labtools.UPGRADE, ["resume"])
    again = (chaos.ROLLBACK, ["--yes", "auto", "latest"])
    assert operator(killed=True).next_command(Ctl("rolling_back"), -9, "", again) == again
    # the end: done, rolled back (the advice then is a new run: not taken), a rollback that succeeded
    assert operator().next_command(Ctl("done"), 0, "", RUN) is None
    assert operator().next_command(Ctl("rolled_back"), 1, "then upgrade again: bin/upgrade.sh run --to 2.2.0",
                                   RUN) is None
    assert operator().next_command(Ctl("rolled_back"), 0, "", again) is None


def test_the_report_lists_every_trial(tmp_path):
    records = [
        {"campaign": "5", "trial": 1, "path": "1.0.0 -> 2.2.0 (jump)", "outcome": "upgraded", "seconds": 90.0,
         "faults": [{"kind": "kill_controller", "node": "node1", "event": 30, "fired_at": 12.5}],
         "commands": [{"command": "upgrade.sh run --to 2.2.0 --mode jump", "rc": -9},
                      {"command": "upgrade.sh resume", "rc": 0}]},
        {"campaign": "5", "trial": 2, "path": "2.0.0 -> 2.2.0 (progressive)", "outcome": "FAILURE", "seconds": 50.0,
         "faults": [{"kind": "hang", "node": "node2", "event": 0, "step": "unzip", "count": 9}],
         "commands": [{"command": "upgrade.sh run --to 2.2.0 --mode progressive", "rc": 1}]}]
    results = tmp_path / "trials.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    page = tmp_path / "reliability.md"
    page.write_text("# R\nbefore\n%s\nold table\n%s\nafter\n" % (chaos_report.BEGIN, chaos_report.END))
    chaos_report.write(str(results), str(page))
    text = page.read_text()
    assert text.startswith("# R\nbefore\n") and text.endswith(chaos_report.END + "\nafter\n")
    assert "old table" not in text
    assert "2 trials: FAILURE 1, upgraded 1; 1 faults fired (2 drawn)." in text
    assert ("| 5.1 | 1.0.0 -> 2.2.0 (jump) | kill_controller node1 at 12.5s (event 30) | "
            "`upgrade.sh run --to 2.2.0 --mode jump` (-9); `upgrade.sh resume` (0) | upgraded | 90.0 |") in text
    assert "| 5.2 | 2.0.0 -> 2.2.0 (progressive) | hang node2 unzip x9 (not reached) |" in text
    assert "| **FAILURE** | 50.0 |" in text
