"""The automatic rollback of a failed run ([run] on_failure = rollback, design §4.4, §4.7.2.1): when
a run rolls back by itself and when it stops as before (the engine over fake nodes, the real
journal, catalog and manifests), and what 'resume' does with a run whose rollback was interrupted."""
import json
import os

import pytest
from test_engine import POLICIES, TOP, FakeOps, step
from test_rollback import manifest

from drupgrade import engine, i18n, retry_policy, rollback, runner, state
from drupgrade.journal import DONE, FAILED, ROLLED_BACK, ROLLING_BACK, RUNNING, Journal

NAMES = ("node1", "node2", "node3")


class Node:
    def __init__(self, name):
        self.name, self.host, self.roles = name, "10.0.0.%s" % name[-1], ["app"]


class Cfg:
    def __init__(self, state_dir, on_failure="rollback"):
        self.nodes = [Node(n) for n in NAMES]
        self.run = {"max_parallel": 4, "on_failure": on_failure, "fault_injection": "off"}
        self.paths = {"state_dir": state_dir}
        self.timeouts = {}
        self.product_name = "drp"

    def section(self, name):
        return {"keep": 0} if name == "backup" else {}


class Ctx:
    def __init__(self, cfg):
        self.config = cfg
        self.console = None
        self.root = TOP
        self.args = None


# The backup phase as the engine runs it: collect_manifest is the controller's own step that puts
# every node's manifest into <state_dir>/backups (after it, the backup is complete).
STEPS = [step("stop_services", "backup", order=10), step("backup_local", "backup", order=40),
         step("collect_manifest", "backup", order=45), step("delete_services", "backup", order=60),
         step("unzip", "upgrade", order=10), step("db_migrate", "upgrade", retry="from_unzip", order=55),
         step("check_services", "postcheck", order=10)]
STEPS[2].local = True


class Ops(FakeOps):
    def __init__(self, journal, state_dir, collects=NAMES):
        super().__init__()
        self.journal, self.state_dir, self.collects = journal, state_dir, collects

    def local(self, node, step, hop, versions):
        info = self.journal.data["hop_info"][hop]
        if node.name in self.collects:  # the node's manifest, as NodeOps.step_collect_manifest copies it
            state.atomic_write_json(os.path.join(self.state_dir, "backups", info["backup_id"], node.name + ".json"),
                                    manifest(info["backup_id"], *versions))
        return 0


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    i18n.set_lang("en")
    monkeypatch.setattr(engine, "WAIT_SLICE", 0)
    monkeypatch.setattr(engine.time, "sleep", lambda s: None)


def make(tmp_path, monkeypatch, on_failure="rollback", collects=NAMES):
    """A Runner whose engine runs STEPS on fake nodes; (runner, journal, ops, what it said)."""
    d = str(tmp_path)
    r = runner.Runner(Ctx(Cfg(d, on_failure)))
    journal = r.new_journal("2.2.0", [("1.0.0", "2.2.0")], "direct", {n: "1.0.0" for n in NAMES}, {})
    ops = Ops(journal, d, collects)
    said = []
    monkeypatch.setattr(runner, "out", lambda level, text: said.append((level, text)))
    monkeypatch.setattr(r, "steps", lambda: STEPS)
    monkeypatch.setattr(r, "upgrade", lambda j: engine.Upgrade(
        r.cfg, STEPS, retry_policy.load(POLICIES), ops, j, lambda *_a: None, str(tmp_path / "logs")))
    return r, journal, ops, said


def text(said):
    return "\n".join(t for _l, t in said)


@pytest.mark.parametrize("failing", ["delete_services", "db_migrate", "check_services"])
def test_a_step_that_fails_for_good_after_the_backup_completed_starts_the_rollback(tmp_path, monkeypatch, failing):
    r, journal, ops, said = make(tmp_path, monkeypatch)
    ops.behaviour[("node2", failing)] = [1] * 9  # outlasts every retry and restart
    assert r.execute(journal) == 1
    backup_id = journal.data["hop_info"]["hop1"]["backup_id"]
    assert journal.status == ROLLING_BACK
    assert journal.data["auto_rollback"] == {"backup_id": backup_id}
    assert journal.data["failures"] == [{"node": "node2", "step": failing, "reason": journal.data["failures"][0]
                                         ["reason"]}]
    assert "on_failure = rollback: the backup %s is complete" % backup_id in text(said)
    assert "bin/upgrade.sh retry" not in text(said)  # the advice to retry is not given: it rolls back
    vs = json.load(open(os.path.join(str(tmp_path), "version_state.json")))["version_state"]
    assert vs["upgrade_status"] == ROLLING_BACK


@pytest.mark.parametrize("on_failure, failing, collects, why", [
    ("rollback", "backup_local", NAMES, "before the backup completed: nothing changed but the services"),
    ("rollback", "db_migrate", ("node1", "node3"), "a node's manifest is missing: the backup is not complete"),
    ("stop", "db_migrate", NAMES, "on_failure = stop: the run stops for retry/resume"),
    ("stop", "check_services", NAMES, "on_failure = stop"),
])
def test_the_run_stops_as_before(tmp_path, monkeypatch, on_failure, failing, collects, why):
    r, journal, ops, said = make(tmp_path, monkeypatch, on_failure, collects)
    ops.behaviour[("node2", failing)] = [1] * 9
    assert r.execute(journal) == 1, why
    assert journal.status == FAILED and "auto_rollback" not in journal.data, why
    assert "what to do: fix the cause, then: bin/upgrade.sh retry" in text(said)
    assert "on_failure = rollback" not in text(said)
    assert r.auto_rollback_point(journal) is None


def test_a_run_that_succeeds_never_rolls_back(tmp_path, monkeypatch):
    r, journal, _ops, _said = make(tmp_path, monkeypatch)
    assert r.execute(journal) == 0 and journal.status == DONE and "auto_rollback" not in journal.data
    assert rollback.after_upgrade(Ctx(r.cfg), r, journal, 0) == 0


# -- the rollback itself, and resume -----------------------------------------------------------------
class Calls:
    """rollback.Rollback's node work replaced: what ran, in order; the sessions end as `ends`."""

    def __init__(self, monkeypatch, r, versions="1.0.0", ends=0):
        self.seen = []
        me = self

        def auto(rb, session, first=1):
            me.seen.append(("auto", session.data["run_id"], first))
            return rb.complete(session) if ends == 0 else ends

        def continue_auto(rb, session):
            me.seen.append(("continue_auto", session.data["run_id"]))
            return rb.complete(session)

        monkeypatch.setattr(rollback.Rollback, "start", lambda rb, b, mode: me.seen.append(("start", b, mode)))
        monkeypatch.setattr(rollback.Rollback, "write_env", lambda rb, s: me.seen.append(("write_env",)))
        monkeypatch.setattr(rollback.Rollback, "auto", auto)
        monkeypatch.setattr(rollback.Rollback, "continue_auto", continue_auto)
        monkeypatch.setattr(r, "detect_versions", lambda: {n: versions for n in NAMES})
        monkeypatch.setattr(rollback, "out", lambda level, t: me.seen.append(("said", t)))


def failed_after_backup(tmp_path, monkeypatch):
    r, journal, ops, _said = make(tmp_path, monkeypatch)
    ops.behaviour[("node1", "db_migrate")] = [1] * 9
    assert r.execute(journal) == 1 and journal.status == ROLLING_BACK
    return r, journal


def test_the_rollback_restores_the_runs_backup_and_closes_the_run(tmp_path, monkeypatch):
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    calls = Calls(monkeypatch, r)
    backup_id = journal.data["auto_rollback"]["backup_id"]
    assert rollback.after_upgrade(Ctx(r.cfg), r, journal, 1) == 1  # the upgrade failed: exit 1
    run = Journal.load(journal.path)
    session = run.data["auto_rollback"]["rollback_id"]
    assert [c for c in calls.seen if c[0] != "said"] == [("start", backup_id, "auto"), ("write_env",),
                                                         ("auto", session, 1)]
    assert run.status == ROLLED_BACK and run.data["rolled_back_by"] == session
    said = "\n".join(c[1] for c in calls.seen if c[0] == "said")
    assert "failed at step db_migrate on node node1 (upgrade)" in said
    assert "the cluster is back at the old version: every node runs 1.0.0" in said
    assert os.path.join(str(tmp_path), "logs", run.data["run_id"]) in said
    entry = rollback.Rollback(Ctx(r.cfg), r).catalog.history()["rollback_history"][-1]
    assert (entry["rollback_id"], entry["trigger"], entry["status"], entry["backup_used"], entry["upgrade_run"]) == (
        session, "upgrade.sh", "completed", backup_id, run.data["run_id"])
    vs = json.load(open(os.path.join(str(tmp_path), "version_state.json")))["version_state"]
    assert vs["upgrade_status"] == ROLLED_BACK


def test_resume_of_an_interrupted_rollback_continues_that_session(tmp_path, monkeypatch):
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    calls = Calls(monkeypatch, r, ends=None)
    rb = rollback.Rollback(Ctx(r.cfg), r)
    # killed -9 during the session: the run names it, the session is running (step 2 begun)
    journal.set(auto_rollback=dict(journal.data["auto_rollback"], rollback_id=rb.next_id()))
    session = rb.new_session(journal.data["auto_rollback"]["backup_id"], "auto", trigger="upgrade.sh")
    session.set(status=RUNNING)
    session.set_session_step(2, status=RUNNING)
    calls.seen.clear()
    assert rollback.after_upgrade(Ctx(r.cfg), r, Journal.load(journal.path), 1) == 1
    assert [c for c in calls.seen if c[0] != "said"] == [("continue_auto", session.data["run_id"])]  # never a new one
    assert Journal.load(journal.path).status == ROLLED_BACK


def test_resume_after_the_session_ended_only_closes_the_run(tmp_path, monkeypatch):
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    calls = Calls(monkeypatch, r)
    rb = rollback.Rollback(Ctx(r.cfg), r)
    journal.set(auto_rollback=dict(journal.data["auto_rollback"], rollback_id=rb.next_id()))
    session = rb.new_session(journal.data["auto_rollback"]["backup_id"], "auto", trigger="upgrade.sh")
    session.set(status=DONE)  # the controller died after the last step, before the run was closed
    calls.seen.clear()
    assert rollback.after_upgrade(Ctx(r.cfg), r, Journal.load(journal.path), 1) == 1
    assert [c for c in calls.seen if c[0] != "said"] == []
    assert Journal.load(journal.path).status == ROLLED_BACK


def test_a_rollback_that_stops_leaves_the_run_rolling_back_for_resume(tmp_path, monkeypatch):
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    calls = Calls(monkeypatch, r, ends=1)
    assert rollback.after_upgrade(Ctx(r.cfg), r, journal, 1) == 1
    assert Journal.load(journal.path).status == ROLLING_BACK
    assert any("'bin/upgrade.sh resume' finishes it" in c[1] for c in calls.seen if c[0] == "said")


def test_a_node_on_another_version_after_the_rollback_is_an_error(tmp_path, monkeypatch):
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    Calls(monkeypatch, r, versions="2.2.0")
    with pytest.raises(rollback.DrupgradeError) as e:
        rollback.after_upgrade(Ctx(r.cfg), r, journal, 1)
    assert e.value.code == 1 and "not every node runs 1.0.0: node1=2.2.0" in e.value.message


def test_status_says_what_failed_and_that_the_run_rolled_back_by_itself(tmp_path, monkeypatch, capsys):
    from drupgrade.commands.upgrade import status
    r, journal = failed_after_backup(tmp_path, monkeypatch)
    Calls(monkeypatch, r)
    rollback.after_upgrade(Ctx(r.cfg), r, journal, 1)
    capsys.readouterr()
    monkeypatch.setattr(runner.Runner, "steps", lambda self: STEPS)
    ctx = Ctx(r.cfg)
    ctx.json = False
    assert status.run(ctx) == 0
    shown = capsys.readouterr().out
    run = Journal.load(journal.path)
    assert "run %s: rolled back" % run.data["run_id"] in shown
    assert "failed: db_migrate on node1: " in shown
    assert "automatic rollback %s to backup %s: rolled back" % (
        run.data["auto_rollback"]["rollback_id"], run.data["auto_rollback"]["backup_id"]) in shown


def test_while_a_run_rolls_back_run_and_retry_refuse_and_point_at_resume(tmp_path, monkeypatch):
    from drupgrade.commands.upgrade import retry
    from drupgrade.commands.upgrade import run as run_cmd
    r, journal = failed_after_backup(tmp_path, monkeypatch)  # killed before the rollback began

    class Args:
        to, mode, step, only_phase, from_phase = "2.2.0", "auto", None, None, None
    ctx = Ctx(r.cfg)
    ctx.args = Args()
    for command, says in ((run_cmd, "is not finished: its automatic rollback was interrupted"),
                          (retry, "is being rolled back")):
        with pytest.raises(rollback.DrupgradeError) as e:
            command.run(ctx)
        assert e.value.code == 1 and says in e.value.message
        assert "'bin/upgrade.sh resume'" in e.value.hint
    assert Journal.load(journal.path).status == ROLLING_BACK  # nothing was touched
