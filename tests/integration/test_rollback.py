"""rollback_tool against the lab (issue 7): real backups, real restores, real interruptions.

One drp 1.0.0 install is shared by the whole module: every test upgrades it, rolls it back, and
checks that the nodes are byte-for-byte what they were before (snapshot()), so the next test
starts from the same state. Upgrades are one hop each (1.0.0 -> 2.2.0 is a direct upgrade).
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import soakcheck
from labtools import (
    LAB,
    MEASURED,
    TOP,
    Controller,
    arm,
    changes,
    diff,
    install,
    node_names,
    node_state,
    plugin_runs,
    sh,
    snapshot,
    ssh,
    state_check,
)

pytestmark = pytest.mark.usefixtures("lab")
ROLLBACK = os.path.join(TOP, "bin", "rollback_tool")

# Issue 7: "a fault on each upgrade-phase step followed by auto latest"; issue 16: the automatic
# rollback ([run] on_failure = rollback) after a failure in each phase after the backup. Each
# case is an upgrade that fails plus its rollback (about a minute): CI runs one step of each phase
# (a late backup step with a kill -9 during its rollback, below; the upgrade phase's is the core
# and database plugins that fail after start_services, issue 17; the postcheck), the manual path after a
# failure is test_failed_upgrade_then_sigkill_...;
# DRUPGRADE_FAULT_STEPS=all runs every step after collect_manifest (the backup complete) (or name
# the steps, space-separated).
def _phase_steps(phase):
    d = os.path.join(TOP, "scripts", "steps", phase)
    return sorted(f.split("-", 1)[1][:-3] for f in os.listdir(d) if f.endswith(".sh"))  # PHASE aside


UPGRADE_STEPS = _phase_steps("6-upgrade")
AFTER_BACKUP = ["plugin_hook", "delete_services"] + UPGRADE_STEPS + _phase_steps("7-postcheck")
_chosen = os.environ.get("DRUPGRADE_FAULT_STEPS", "check_services")
FAULT_STEPS = AFTER_BACKUP if _chosen == "all" else _chosen.split()


class Rollback(Controller):
    tool = ROLLBACK


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, lab):
    """drp 1.0.0, its exact state, and one controller state dir (upgrade and rollback share it)."""
    install("1.0.0")
    tmp = tmp_path_factory.mktemp("rollback")
    upgrade = Controller(tmp)
    rollback = Rollback(tmp)
    rollback.config = upgrade.config
    # The same state dir, [run] on_failure = stop: a failed run stops for a rollback by hand.
    (tmp / "stop").mkdir()
    stop = Controller(tmp / "stop", state_dir=upgrade.state, run={"fault_injection": "on", "on_failure": "stop"})
    SOAK[:] = [soakcheck.Cycles(upgrade.state, node_names(), lab.exec)]  # nsenter: no ssh handshakes
    yield {"before": snapshot(), "upgrade": upgrade, "rollback": rollback, "stop": stop, "tmp": tmp}
    # what the soak's checks cost (shown with -s)
    print("\nsoak checks: %d cycles, %.1f s" % (len(SOAK[0].rows), SOAK[0].seconds))


# Issue 19: the soak's per-cycle checks (tests/lab/soakcheck.py: no drift, backups within [backup]
# keep on every node and the controller, one history entry per rollback, the controller log within
# its rotation) on each upgrade -> rollback cycle of this module. The trends (memory, open files and
# the state dir flat) need cycles of the same work: bench/soak.py runs 20 of them.
SOAK = []


def assert_back_to(before, version):
    now = snapshot()
    assert now == before, "the nodes differ from the state before the upgrade:\n" + diff(before, now)
    state_check(version)
    if SOAK:
        problems = SOAK[0].record(MEASURED, diff(before, now))
        assert not problems, "the soak's checks:\n" + "\n".join(problems)


def current_session(rb):
    return rb.json("status")["rollback_session"]


def test_two_upgrades_a_corrupted_backup_then_two_rollbacks(cluster):
    """1.0.0 -> 1.5.0 -> 2.2.0 (two runs); a corrupted backup file is found before anything is
    touched; the countdown cancels; then auto latest twice: exactly 1.5.0, then exactly 1.0.0."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    up("run", "--to", "1.5.0")
    at_1_5 = snapshot()
    up("run", "--to", "2.2.0")
    backup = up.journal()["hop_info"]["hop1"]["backup_id"]
    after = snapshot()
    f = "/backup/%s/local_data.tar.gz" % backup
    ssh("node2", "cp -p %s /root/saved.tgz && printf x >> %s" % (f, f))
    try:
        out = rb("--yes", "auto", "latest", expect=1)
        assert "backup %s cannot be used" % backup in out
        assert "node2" in out and "local_data.tar.gz is corrupted" in out
        assert "nothing was changed" in out
        assert snapshot() == after, "a refused rollback changed the nodes"
        assert current_session(rb) is None
        listed = rb.json("list")
        row = [r for r in listed["available_backups"] if r["backup_id"] == backup][0]
        assert row["status"] == "not_usable" and "local_data.tar.gz" in row["reason"]
    finally:
        ssh("node2", "mv /root/saved.tgz %s" % f)
    # A stray entry in the controller's backups dir is a corrupt row; it breaks nothing (M4).
    stray = os.path.join(rb.state, "backups", "README")
    with open(stray, "w", encoding="utf-8") as fh:
        fh.write("notes\n")
    try:
        listed = rb.json("list")
    finally:
        os.unlink(stray)
    assert listed["latest"] == backup
    assert [(r["backup_id"], r["status"]) for r in listed["available_backups"] if r["backup_id"] == "README"] == [
        ("README", "corrupt")]
    assert [(r["version"], r["status"]) for r in listed["available_backups"] if r["backup_id"] != "README"] == [
        ("v1.5.0", "ready"), ("v1.0.0", "ready")]

    # The countdown: Ctrl-C cancels, nothing is touched.
    # (Ctrl-C as on a terminal, also when the suite itself was started in the background with SIGINT ignored)
    proc = subprocess.Popen(rb.argv("auto", "latest"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "press Ctrl-C to cancel" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, "".join(seen) + rest
    assert "rollback cancelled: nothing was changed" in rest
    assert current_session(rb) is None and snapshot() == after

    second = up.journal()["run_id"]
    out = rb("--yes", "auto", "latest")
    assert "complete: every node is back at 1.5.0" in out
    # issue 18: the rollback's end wrote the report of the run it rolled back
    doc = json.load(open(os.path.join(rb.state, "runs", second, "report.json"), encoding="utf-8"))
    assert [(r["status"], r["trigger"], r["to_version"]) for r in doc["rollbacks"]] == [
        ("completed", "rollback_tool", "v1.5.0")] and doc["outcome"] == "rolled_back"
    # The fast path: the kept 1.5.0 release is switched back to, not extracted.
    rollback_id = current_session(rb)["rollback_id"]
    log = os.path.join(rb.state, "logs", rollback_id, "node1", "rollback_program.log")
    assert "intact: switching to it" in open(log, encoding="utf-8").read()
    assert_back_to(at_1_5, "1.5.0")
    # The second rollback goes to the backup taken before the first run.
    out = rb("--yes", "auto", "latest")
    assert "complete: every node is back at 1.0.0" in out
    assert_back_to(cluster["before"], "1.0.0")
    hist = rb.json("history")["rollback_history"]
    assert [(e["from_version"], e["to_version"], e["status"], e["rollback_type"]) for e in hist] == [
        ("v2.2.0", "v1.5.0", "completed", "auto"), ("v1.5.0", "v1.0.0", "completed", "auto")]
    assert hist[0]["backup_used"] == backup


def test_manual_step_by_step(cluster):
    """Step by step; a backup changed after the session started (a file on a node, the
    controller's copy of a manifest) is refused before step 2 restores anything (L10)."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    up("run", "--to", "2.2.0")
    backup = up.journal()["hop_info"]["hop1"]["backup_id"]
    out = rb("manual", backup)
    assert "manual rollback" in out and "started" in out
    rb("step1")
    out = rb("step3", expect=2)
    assert "step 3 needs step 2" in out
    f = "/backup/%s/local_data.tar.gz" % backup
    ssh("node2", "cp -p %s /root/saved.tgz && printf x >> %s" % (f, f))
    try:
        out = rb("step2", expect=1)
    finally:
        ssh("node2", "mv /root/saved.tgz %s" % f)
    assert "backup %s no longer verifies" % backup in out and "node2" in out and "local_data.tar.gz" in out
    assert "stopped before restoring anything more" in out
    copy = os.path.join(rb.state, "backups", backup, "node3.json")
    saved = open(copy, encoding="utf-8").read()
    m = json.loads(saved)
    m["backup_files"]["local_data"]["sha256"] = "0" * 64
    with open(copy, "w", encoding="utf-8") as fh:
        json.dump(m, fh)
    try:
        out = rb("step2", expect=1)
    finally:
        with open(copy, "w", encoding="utf-8") as fh:
            fh.write(saved)
    assert "node node3: the manifest on the node differs from the controller's copy (local_data)" in out
    session = current_session(rb)
    assert session["steps"][1]["status"] == "pending"  # step 2 never began on any node: nothing restored
    cur = json.load(open(os.path.join(rb.state, "current_rollback.json")))
    assert not [k for k in json.load(open(cur["journal"])).get("results", {}) if "rollback_db" in k]
    for n in (2, 3, 4, 5):
        rb("step%d" % n)
        s = current_session(rb)
        assert [x["status"] for x in s["steps"]][:n] == ["done"] * n
        assert s["next_step"] == n + 1
    out = rb("--lang", "zh", "status")
    assert "恢复系统配置" in out and "下一步" in out
    out = rb("step6")
    assert "complete: every node is back at 1.0.0" in out
    assert current_session(rb)["status"] == "completed"
    assert_back_to(cluster["before"], "1.0.0")


def backups_known(state):
    """The backups the controller has manifests of, oldest first (read from its state dir)."""
    root = os.path.join(state, "backups")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def on_nodes(command):
    return {n: ssh(n, command, check=False).stdout for n in node_names()}


def test_manual_then_auto_continue_from_3(cluster):
    """Also [backup] keep (default 3) after a completed run: the fourth run of the module removes
    the oldest run's backup, its run dirs and the package it alone needed, on every node."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    before = backups_known(up.state)
    out = up("run", "--to", "2.2.0")
    assert "retention: keeping the 3 newest complete backups" in out
    gone = before[:-2]  # the 3 newest: the two before this run and its own
    assert backups_known(up.state) == before[-2:] + [up.journal()["hop_info"]["hop1"]["backup_id"]]
    for b in gone:
        assert "retention: removed backup %s" % b in out
        for node, left in on_nodes("ls -d /backup/%s 2>/dev/null" % b).items():
            assert left == "", "%s: %s was not removed" % (node, b)
    if gone:  # the first run went to 1.5.0, which no kept run needs
        assert "unpacked packages of 1.5.0" in out
        for node, left in on_nodes("ls -d /var/lib/drupgrade/packages/drp-1.5.0* /var/lib/drupgrade/work/drp-1.5.0 "
                                   "2>/dev/null").items():
            assert left == "", "%s: %s" % (node, left)
    rb("manual", "latest")
    rb("step1")
    rb("step2")
    out = rb("auto_continue_from", "3")
    assert "complete" in out
    s = current_session(rb)
    assert s["status"] == "completed" and s["mode"] == "manual"
    assert_back_to(cluster["before"], "1.0.0")


def wait_for(pred, seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if pred():
                return
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_failed_upgrade_then_sigkill_during_the_db_restore_then_auto_latest(cluster):
    """The upgrade fails in its upgrade phase (node1 cannot stage the new release: a full disk
    there, on every retry; [run] on_failure = stop); auto latest is killed -9 during the DB restore;
    manual asks on a non-tty (exit 4); auto latest continues the same rollback to the exact 1.0.0 state."""
    up, rb = cluster["stop"], cluster["rollback"]
    staging = "/opt/drp-releases/.2.2.0.staging"
    sh(LAB, "fault", "fill-disk", "node1", staging, "1M")
    try:
        out = up("run", "--to", "2.2.0", expect=1)
    finally:
        sh(LAB, "fault", "unfill-disk", "node1", staging)
    assert "install failed on node node1" in out
    assert up.journal()["failed_phase"] == "upgrade"

    proc = rb.popen("--yes", "auto", "latest")
    try:
        kill_during_the_db_restore(proc, rb.state)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    s = current_session(rb)
    assert s["status"] == "interrupted" and s["steps"][5]["status"] == "pending"
    out = rb("manual", "latest", expect=4)
    assert "is not finished" in out and "rollback.unfinished" in out
    out = rb("auto", "latest")  # no countdown: it continues what was started
    assert "continuing the unfinished rollback" in out and "complete" in out
    assert_back_to(cluster["before"], "1.0.0")
    # The failed run is closed by the rollback: a new upgrade may start.
    assert up.journal()["status"] == "rolled_back"


def rollback_db_running(state):
    """The current rollback session's DB restore runs on node1 (journaled)."""
    cur = json.load(open(os.path.join(state, "current_rollback.json")))
    results = json.load(open(cur["journal"])).get("results", {})
    return results.get("rollback/rollback_db/node1", {}).get("status") == "running"


def kill_during_the_db_restore(proc, state):
    """SIGKILL the controller proc (its process group) once the rollback session of state restores
    the database on node1: journaled running, and its own work begun on the node (else the kill
    lands just before it)."""
    wait_for(lambda: rollback_db_running(state))
    try:
        wait_for(lambda: ssh("node1", "pgrep -f 'drp-dbtool (import|init-datadir|bootstrap)' || "
                                      "systemctl is-active -q drp-db-restore", check=False).returncode == 0, 20)
    except AssertionError:
        pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def assert_rolled_back_by_itself(up, rb, out, step, rollback_id=None):
    """The run ended rolled_back, said what failed, where, that the cluster is back at 1.0.0 and
    where the logs are; its session is in the history like a rollback_tool one; exactly 1.0.0."""
    j = up.journal()
    assert j["status"] == "rolled_back", out
    assert [f["step"] for f in j["failures"]] == [step] and j["failures"][0]["node"] == "node1", j["failures"]
    session = j["auto_rollback"]["rollback_id"]
    assert rollback_id in (None, session)
    assert "failed at step %s on node node1" % step in out
    assert "the cluster is back at the old version: every node runs 1.0.0" in out
    assert "logs: %s" % os.path.join(up.state, "logs", j["run_id"]) in out
    assert "bin/upgrade.sh run --to 2.2.0" in out
    entry = [e for e in rb.json("history")["rollback_history"] if e["rollback_id"] == session]
    assert [(e["status"], e["trigger"], e["upgrade_run"], e["backup_used"]) for e in entry] == [
        ("completed", "upgrade.sh", j["run_id"], j["hop_info"]["hop1"]["backup_id"])]
    assert up.status()["upgrade_status"] == "rolled_back"
    vs = json.load(open(os.path.join(up.state, "version_state.json")))["version_state"]
    assert vs["upgrade_status"] == "rolled_back" and vs["run_id"] == j["run_id"]
    # issue 18: the run's report (written when the command ended) has the rollback, every node back at 1.0.0
    doc = json.load(open(os.path.join(up.state, "runs", j["run_id"], "report.json"), encoding="utf-8"))
    assert doc["outcome"] == "rolled_back" and [f["step"] for f in doc["failures"]] == [step]
    assert {(n["before"], n["after"]) for n in doc["nodes"]} == {("1.0.0", "1.0.0")}
    assert [(r["rollback_id"], r["status"], r["trigger"]) for r in doc["rollbacks"]] == [
        (session, "completed", "upgrade.sh")]
    assert [s["status"] for s in doc["rollbacks"][0]["steps"]] == ["done"] * len(doc["rollbacks"][0]["steps"])
    assert_back_to(rb.before, "1.0.0")


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_failure_after_the_backup_rolls_back_by_itself(cluster, step):
    """The upgrade fails for good at `step` on node1 (its fault outlasts every retry and restart)
    after the backup completed: with the default [run] on_failure = rollback the run rolls every
    node back to exactly the state before it, verifies it, and ends rolled_back with exit 1."""
    assert step in AFTER_BACKUP
    up, rb = cluster["upgrade"], cluster["rollback"]
    rb.before = cluster["before"]
    arm("node1", step, "fail 9")
    try:
        out = up("run", "--to", "2.2.0", expect=1)
    finally:
        ssh("node1", "rm -f /var/lib/drupgrade/faults/%s" % step)
    assert "[run] on_failure = rollback: the backup" in out and "complete: every node is back at 1.0.0" in out
    assert "bin/upgrade.sh retry" not in out  # nothing to retry: the run is closed
    assert_rolled_back_by_itself(up, rb, out, step)


def test_core_and_database_plugins_that_keep_failing_roll_the_upgrade_back(cluster, tmp_path):
    """Issue 17's policy for the plugins whose failure stops the upgrade: a core plugin that exits 1
    (node2, role db_replica) and a database plugin whose SQL fails (node1, the primary: a CREATE,
    so the database is backed up before each attempt and restored after it) both hook after
    start_services (both nodes at once: a cluster barrier): each is tried 3 times, 10 s apart, then
    the step fails on both nodes and the run rolls back by itself to exactly 1.0.0."""
    up = cluster["upgrade"]
    plugins = tmp_path / "plugins"
    shutil.copytree(os.path.join(TOP, "tests", "fixtures", "plugins", "db-audit"), str(plugins / "db-audit"))
    manifest = json.load(open(str(plugins / "db-audit" / "plugin.json")))
    manifest["hook"] = "after:start_services"
    (plugins / "db-audit" / "plugin.json").write_text(json.dumps(manifest))
    (plugins / "core-fail").mkdir()
    (plugins / "core-fail" / "plugin.json").write_text(json.dumps({
        "name": "core-fail", "type": "core", "hook": "after:start_services", "entry": "run.sh", "timeout": 30,
        "roles": ["db_replica"], "description": "a core plugin that fails every time"}))
    (plugins / "core-fail" / "run.sh").write_text("#!/bin/bash\necho 'core-fail: giving up'\nexit 1\n")
    os.chmod(str(plugins / "core-fail" / "run.sh"), 0o755)
    (tmp_path / "ctl").mkdir()
    failing = Controller(tmp_path / "ctl", state_dir=up.state, plugins={"dir": str(plugins)})
    restored = "== SQL failed (rc 1): the database was restored from its backup"
    log = "/var/lib/drupgrade/plugins/db-audit/plugin.log"
    count = "grep -s -c -F '%s' %s || true" % (restored, log)
    restores_before = int(ssh("node1", count).stdout.strip() or 0)
    ssh("node1", "mkdir -p /var/lib/drupgrade-plugin-test && touch /var/lib/drupgrade-plugin-test/db-bad")
    try:
        out = failing("run", "--to", "2.2.0", expect=1)
    finally:
        ssh("node1", "rm -rf /var/lib/drupgrade-plugin-test")
    j = failing.journal()
    assert j["status"] == "rolled_back", out
    assert sorted((f["node"], f["step"]) for f in j["failures"]) == [("node1", "start_services"),
                                                                     ("node2", "start_services")]
    runs = plugin_runs(j)
    assert [(n, r["attempt"], r["reason"], r["outcome"]) for n, r in runs["core-fail"]] == [
        ("node2", 1, "exit", "retry"), ("node2", 2, "exit", "retry"), ("node2", 3, "exit", "failed")]
    assert [(n, r["attempt"], r["reason"], r["outcome"]) for n, r in runs["db-audit"]] == [
        ("node1", 1, "sql", "retry"), ("node1", 2, "sql", "retry"), ("node1", 3, "sql", "failed")]
    assert int(ssh("node1", count).stdout.strip()) - restores_before == 3  # each attempt's CREATE undone
    assert "plugin core-fail (core) failed for good after 3 attempt(s) (exit): step start_services fails" in out
    assert "[run] on_failure = rollback: the backup" in out and "complete: every node is back at 1.0.0" in out
    status = failing("status")
    assert "plugin db-audit at step start_services on node1: failed after 3 attempt(s) (sql;" in status
    assert failing.status()["upgrade_status"] == "rolled_back"
    assert_back_to(cluster["before"], "1.0.0")


def test_an_automatic_rollback_killed_then_resume_finishes_it(cluster):
    """A late backup step fails for good (the backup is complete, the services stopped); the
    controller is killed -9 during the automatic rollback's DB restore: status says rolling_back,
    'retry' refuses, 'resume' finishes the rollback (not the upgrade) to the exact 1.0.0 state."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    rb.before = cluster["before"]
    arm("node1", "delete_services", "fail 9")
    proc = up.popen("run", "--to", "2.2.0")
    try:
        kill_during_the_db_restore(proc, up.state)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        ssh("node1", "rm -f /var/lib/drupgrade/faults/delete_services")
    j = up.journal()
    assert j["status"] == "rolling_back" and j["failed_phase"] == "backup"
    session = j["auto_rollback"]["rollback_id"]
    assert up.status()["upgrade_status"] == "rolling_back"
    assert current_session(rb)["rollback_id"] == session and current_session(rb)["status"] == "interrupted"
    out = up("retry", expect=1)
    assert "is being rolled back" in out and "bin/upgrade.sh resume" in out
    out = up("resume", expect=1)
    assert "was interrupted: finishing the rollback" in out and "continuing the unfinished rollback %s" % session in out
    assert "[upgrade]" not in out  # the rollback is finished, not the upgrade
    assert_rolled_back_by_itself(up, rb, out, "delete_services", session)


def test_a_tool_dir_the_tool_did_not_create_is_refused_and_left_intact(tmp_path):
    """node_tool_dir pointing at someone else's directory: the upgrade stops at its tool upload,
    names the directory and what to do, and removes nothing (audit H4)."""
    ctl = Controller(tmp_path, paths={"node_tool_dir": "/opt/notours"})
    listing = "find /opt/notours -printf '%y %m %s %p\\n' | sort; cat /opt/notours/data/keep.txt; ls -d /opt/notours.*"
    for n in node_names():
        ssh(n, "mkdir -p /opt/notours/bin /opt/notours/data && echo precious > /opt/notours/data/keep.txt "
               "&& echo '#!/bin/bash' > /opt/notours/bin/drstep && echo 0.1.0 > /opt/notours/VERSION")
    try:
        before = on_nodes(listing)
        out = ctl("run", "--to", "2.2.0", "--only-phase", "distribute_tool", expect=1)
        assert "upload_tool failed on node node1" in out
        assert "/opt/notours was not created by drupgrade" in out and "choose another node_tool_dir" in out
        assert on_nodes(listing) == before
        assert all("precious" in v for v in before.values())
    finally:
        for n in node_names():
            ssh(n, "rm -rf /opt/notours")


def test_prune_keeps_the_newest_complete_backup_and_its_rollback_works(cluster):
    """rollback_tool prune --keep 1 after the module's runs: every older run's backups, node run
    dirs and controller records are gone, history keeps every session, and the newest complete
    backup still rolls the cluster back exactly."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    current = up.journal()
    kept = current["hop_info"]["hop1"]["backup_id"]
    runs = sorted(os.listdir(os.path.join(up.state, "runs")))
    older = [b for b in backups_known(up.state) if b != kept]
    assert len(runs) >= 2 and older, "the module's earlier tests make the runs this test prunes"
    hist = rb.json("history")["rollback_history"]
    dry = rb.json("prune", "--keep", "1", "--dry-run")
    assert sorted(dry["removed"]["backups"]) == older and dry["nodes"] == {}
    assert backups_known(up.state) == sorted(older + [kept])  # a dry run removes nothing

    report = rb.json("prune", "--keep", "1")
    assert report["ok"] and sorted(report["removed"]["runs"]) == [r for r in runs if r != current["run_id"]]
    assert [k["backup_id"] for k in report["kept"]] == [kept] and report["freed_bytes"] > 0
    assert backups_known(up.state) == [kept]
    assert sorted(os.listdir(os.path.join(up.state, "runs"))) == [current["run_id"]]
    assert not [d for d in os.listdir(os.path.join(up.state, "logs")) if d in report["removed"]["runs"]]
    gone = set(report["removed"]["runs"] + report["removed"]["rollbacks"])
    for node, left in on_nodes("ls /backup; ls /var/lib/drupgrade/runs").items():
        entries = left.split()
        assert kept in entries and not set(older) & set(entries), (node, entries)
        assert not [e for e in entries if e.split(".")[0] in gone], (node, entries)
    after = rb.json("history")["rollback_history"]
    assert [dict(e, upgrade_run_created=None) for e in after] == [dict(e, upgrade_run_created=None) for e in hist]
    assert all(e.get("upgrade_run_created") for e in after if e["upgrade_run"] in report["removed"]["runs"])
    listed = rb.json("list")
    assert [(r["backup_id"], r["status"]) for r in listed["available_backups"]] == [(kept, "ready")]
    assert listed["latest"] is None  # every run was rolled back: still nothing to undo
    out = rb("prune", "--keep", "1")
    assert "nothing to remove" in out and "kept %s: one of the 1 newest complete backups" % kept in out
    out = rb("list")
    assert "SIZE" in out and kept in out and "ready" in out

    out = rb("--yes", "auto", kept)
    assert "complete: every node is back at 1.0.0" in out
    assert_back_to(cluster["before"], "1.0.0")


def test_read_only_commands_change_nothing_on_any_node(cluster):
    """rollback_tool list|status|history and upgrade.sh status|plan|nodes|steps: every file under the
    tool's and the product's directories, /tmp, /run, /backup, /var/lib/drupgrade and /etc, the
    tool's processes and the units are the same afterwards (issue 12 point 4). Runs last: after
    the prune and its rollback, the nodes hold a backup, its runs and a finished session."""
    up, rb = cluster["upgrade"], cluster["rollback"]
    before = node_state()
    listed = rb.json("list")
    assert listed["available_backups"] and all(r["status"] == "ready" for r in listed["available_backups"])
    for row in listed["available_backups"]:  # the space each backup holds, per node and in all
        assert set(row["size_by_node"]) == set(node_names()) and all(row["size_by_node"].values())
        assert row["size_bytes"] == sum(row["size_by_node"].values())
    assert current_session(rb)["status"] == "completed"  # rollback_tool status
    assert rb.json("history")["rollback_history"]
    assert up.status()["upgrade_status"] == "rolled_back"  # upgrade.sh status
    assert up.json("plan", "--to", "2.2.0")["upgrade_plan"]["source_version"] == "v1.0.0"
    nodes = up.json("nodes")
    assert all(r["ok"] and r["scp"] and r["sftp"] and r["version"] == "1.0.0" for r in nodes["nodes"])
    up("steps")
    diff = changes(before, node_state())
    assert diff == "", "a read-only command changed the nodes:\n" + diff
def live_runs(node):
    """The node's detached runs whose processes still live (the take-over must leave none)."""
    out = ssh(node, "pgrep -fa 'bin/drstep (chain|[a-z_]+ (run|cleanup))' || true").stdout
    return [line for line in out.splitlines() if line.strip()]


def background(ctl, path, *args):
    """A tool of bin/ running in its own session, its output into a file."""
    with open(path, "w") as f:
        return subprocess.Popen(ctl.argv(*args), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def kill(proc):
    """SIGKILL to a tool and its ssh children (its session), as a crash of the control node would."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# After a failed test: the runs it left going on a node are ended, its lock and faults removed.
LEFTOVERS = r"""for d in /var/lib/drupgrade/runs/*/; do
  [ -f "$d/rc" ] || { p=$(cat "$d/pid" 2>/dev/null) && kill -KILL -- "-$p" 2>/dev/null; }
done
rm -f /var/lib/drupgrade/runs/.holder /var/lib/drupgrade/faults/*
"""


@pytest.fixture
def no_leftovers():
    yield
    for node in ("node1", "node2", "node3"):
        ssh(node, LEFTOVERS, check=False)


@pytest.mark.usefixtures("no_leftovers")
def test_one_attempt_at_a_time_two_controllers_and_a_rollback_over_a_crashed_upgrade(cluster, tmp_path):
    """Issue 12 points 2 and 3 (H2, H3, M1) in one upgrade of the shared install:
    - node1's stop_services prints forged markers (a failure, a malformed one): it still counts
      as the success it is, and every re-attach re-reads those lines without a crash;
    - a cut longer than the reconnect budget while backup_db runs on node1: the command ends
      (exit 1, "lost contact"), the step stays running; `retry` re-attaches to that very run;
    - a second controller (another state dir) is refused on every node (exit 5, naming the
      first), upgrade and rollback alike, and so is a rollback from the first controller's own
      state dir after it was killed -9 during the upgrade phase;
    - the second controller's --take-over stops the first one's runs and confirms they are gone;
    - after the first controller resumed and was killed -9 again, rollback_tool --take-over
      stops the upgrade's runs and rolls back to exactly the state before it."""
    up = cluster["upgrade"]
    for d in ("a", "b", "ra", "rb"):
        (tmp_path / d).mkdir()
    # Short keepalives: a cut is noticed in ~6 s, one reconnect (3 s connect timeout), then given up.
    a = Controller(tmp_path / "a", state_dir=up.state, heartbeat={
        "control_interval": 2, "control_timeout": 6, "control_reconnects": 1}, transfer={"connect_timeout": 3})
    b = Controller(tmp_path / "b")
    rb_a, rb_b = Rollback(tmp_path / "ra", state_dir=a.state), Rollback(tmp_path / "rb", state_dir=b.state)
    rb_a.config, rb_b.config = a.config, b.config
    session_before = current_session(rb_a)
    arm("node1", "stop_services", "forge")
    arm("node1", "backup_db", "wait")
    for node in ("node1", "node2", "node3"):
        arm(node, "unzip", "wait 2")
    proc = background(a, str(tmp_path / "run.out"), "run", "--to", "2.2.0")
    try:
        wait_for(lambda: a.journal()["results"]["hop1/backup_db/node1"]["status"] == "running")
        wait_for(lambda: ssh("node1", "test -e /var/lib/drupgrade/faults/backup_db", check=False).returncode != 0)
        run_key = a.journal()["results"]["hop1/backup_db/node1"]["run"]
        sh(LAB, "fault", "cut", "node1")
        try:
            assert proc.wait(timeout=300) == 1
        finally:
            sh(LAB, "fault", "restore", "node1")
    finally:
        kill(proc)
    out = open(str(tmp_path / "run.out")).read()
    assert "lost contact with node node1 during step backup_db; the step may still be running there" in out
    assert "run 'bin/upgrade.sh resume' when the link is back" in out
    entry = a.journal()["results"]["hop1/backup_db/node1"]
    assert (entry["status"], entry["attempts"], entry["run"]) == ("running", 1, run_key)
    forging = a.journal()["results"]["hop1/stop_services/node1"]
    assert (forging["status"], forging["attempts"]) == ("ok", 1)  # the forged failure did not count
    log = open(os.path.join(up.state, "logs", a.journal()["run_id"], "node1", "stop_services.log")).read()
    assert "@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end stop_services x y" in log

    # Another controller (another state dir) is refused everywhere, naming the holder.
    for tool, args in ((b, ("run", "--to", "2.2.0")), (rb_b, ("--yes", "auto", "latest"))):
        out = tool(*args, expect=5)
        assert "another drupgrade run holds the node lock" in out
        assert "(run %s)" % a.journal()["run_id"] in out and "state dir %s" % up.state in out
        assert "--take-over" in out
    assert not os.path.exists(os.path.join(b.state, "current_run.json"))  # nothing started

    # retry after the cut: attached to the first attempt, still running on node1, never a second one.
    proc = background(a, str(tmp_path / "retry.out"), "retry")
    try:
        wait_for(lambda: "re-attaching to the run started before the interruption" in open(
            str(tmp_path / "retry.out")).read())
        ssh("node1", "touch /var/lib/drupgrade/faults/backup_db.release")
        wait_for(lambda: a.journal()["results"]["hop1/backup_db/node1"]["status"] == "ok")
        entry = a.journal()["results"]["hop1/backup_db/node1"]
        assert (entry["attempts"], entry["run"]) == (1, run_key)
        wait_for(lambda: all(a.journal()["results"].get("hop1/unzip/%s" % n, {}).get("status") == "running"
                             for n in ("node1", "node2", "node3")))
        kill(proc)  # kill -9: the controller dies during the upgrade phase
    finally:
        kill(proc)
    assert "was interrupted, not failed" in open(str(tmp_path / "retry.out")).read()

    # A rollback from the same state dir must not run under the upgrade's live chains (M1).
    out = rb_a("--yes", "auto", "latest", expect=5)
    assert "upgrade.sh retry (run %s)" % a.journal()["run_id"] in out and "that controller is gone" in out
    assert "its runs still live there" in out and "bin/rollback_tool --take-over auto latest" in out
    assert current_session(rb_a) == session_before  # no session was started
    # The other controller takes over deliberately: the runs are stopped and gone on every node.
    out = b("--take-over", "run", "--to", "2.2.0", "--only-phase", "init")
    assert out.count("took the lock over from upgrade.sh retry") == 3 and "stopped run" in out
    assert [live_runs(n) for n in ("node1", "node2", "node3")] == [[], [], []]

    # The first controller resumes (a new attempt of the stopped unzip waits again), is killed
    # again; the rollback takes over and brings every node back exactly.
    proc = background(a, str(tmp_path / "resume.out"), "resume")
    try:
        # journaled running, and its run live on the node (not just about to be started there)
        wait_for(lambda: a.journal()["results"]["hop1/unzip/node1"]["attempts"] == 2 and
                 a.journal()["results"]["hop1/unzip/node1"]["status"] == "running" and live_runs("node1"))
    finally:
        kill(proc)
    out = rb_a("--yes", "--take-over", "auto", "latest")
    assert "took the lock over from upgrade.sh resume" in out and "signal=term" in out
    assert "complete: every node is back at 1.0.0" in out
    assert_back_to(cluster["before"], "1.0.0")
    assert up.journal()["status"] == "rolled_back"
