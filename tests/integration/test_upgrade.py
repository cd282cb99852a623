"""The upgrade engine against the lab: real nodes, real product, real faults (issue 5).

Each test starts from a fresh drp install (tests/lab/install.sh) and its own controller state
directory; the node state after an upgrade is compared through a fingerprint taken on the nodes.
"""
import glob
import json
import os
import random
import re
import shlex
import shutil
import signal
import sys
import time

import jsonschema
import pytest
from labtools import (
    LAB,
    LAB_DIR,
    TOP,
    Controller,
    arm,
    backups_verify,
    chromium,
    fingerprint,
    install,
    node_names,
    sh,
    ssh,
    state_check,
)

pytestmark = pytest.mark.usefixtures("lab")
HOTFIX = os.path.join(TOP, "packaging", "drp", "hotfix", "1.0.0-hf1.sql")
ROLLBACK = os.path.join(TOP, "bin", "rollback_tool")
CHAOS_SEED = "ci24"  # bench/chaos.py draws a controller SIGKILL, then node2 cut for 26 s (past the budget)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted progressive 1.0.0 -> 2.2.0: the fingerprint every other run must equal. It
    runs on drp 1.0.0 with the field hot-fix 1.0.0-hf1 (packaging/drp/hotfix/: jobs.priority back-ported),
    which the jump's compatibility checks refuse and the progressive path's first hop takes as it is:
    `plan` falls back to the progressive path in mode auto and refuses in mode jump, `run --mode jump`
    refuses (exit 3) before touching anything, and `run` (auto) takes the progressive path."""
    install("1.0.0")
    ssh("node1", "mariadb drp -e %s" % shlex.quote(open(HOTFIX).read()))
    before = fingerprint()
    ctl = Controller(tmp_path_factory.mktemp("reference"))
    plan = ctl.json("plan", "--to", "2.2.0")["upgrade_plan"]
    plan_text = ctl("plan", "--to", "2.2.0")
    refused = {"plan": ctl("plan", "--to", "2.2.0", "--mode", "jump", expect=3),
               "run": ctl("run", "--to", "2.2.0", "--mode", "jump", expect=3)}
    untouched = fingerprint() == before and not os.path.exists(os.path.join(ctl.state, "current_run.json"))
    out = ctl("run", "--to", "2.2.0")
    return {"before": before, "after": fingerprint(), "out": out, "ctl": ctl, "plan": plan, "plan_text": plan_text,
            "refused": refused, "untouched": untouched}


def test_progressive_upgrade_through_every_adjacent_pair(reference):
    ctl = reference["ctl"]
    j = ctl.journal()
    assert j["status"] == "done"
    assert j["hops"] == [["1.0.0", "1.5.0"], ["1.5.0", "2.0.0"], ["2.0.0", "2.1.0"], ["2.1.0", "2.2.0"]]
    assert all(r["status"] == "ok" for r in j["results"].values())
    state_check("2.2.0")
    backups_verify(j)
    vs = ctl.status()
    assert vs["upgrade_status"] == "completed" and vs["current_version"] == "v2.2.0"
    # every field of the design's version_state, with this run's values (version_state.json alike)
    assert vs == json.load(open(os.path.join(ctl.state, "version_state.json")))["version_state"]
    assert vs["estimated_completion"] == vs["end_time"] and vs["current_step"] is None
    # the four backups of the run (retention keeps a run's backups with it)
    assert vs["rollback_available"] is True
    assert [p["backup_status"] for p in vs["rollback_points"]] == ["ready"] * 4
    assert all(re.match(r"^(\d+m)?\d+s$", s["duration"]) and s["status"] == "completed" for s in vs["completed_steps"])
    assert {n["current_version"] for n in vs["nodes"].values()} == {"v2.2.0"}
    assert len(vs["rollback_points"]) == 4
    # Every step start and end is in the journal before the next one.
    events = [e for e in j["events"] if "key" in e]
    assert events and all(e.get("status") in ("running", "ok") for e in events)
    # The old release is kept intact beside the new one for a fast rollback.
    assert "release 1.0.0 ok" in reference["after"]["node1"]
    assert "release 2.2.0 ok" in reference["after"]["node1"]
    # issue 18: status shows each node's way and where it is now
    assert {n["version_before"] for n in vs["nodes"].values()} == {"v1.0.0"}
    assert "  node1      v1.0.0 -> v2.2.0  now v2.2.0\n" in ctl("status")
    # a step's log of every hop, one command away (hop N >= 2 keeps its own <step>.hopN.log)
    out = ctl("logs", "install", "--node", "node1")
    headers = [ln for ln in out.splitlines() if ln.startswith("==== ")]
    assert [h.split(", attempt")[0] for h in headers] == [
        "==== install on node1, hop%d (%s -> %s)" % (i + 1, src, dst) for i, (src, dst) in enumerate(j["hops"])]
    assert [os.path.basename(h.rsplit("; ", 1)[1]) for h in headers] == [
        "install.log", "install.hop2.log", "install.hop3.log", "install.hop4.log"]
    assert all(": ok; " in h for h in headers) and len(out.splitlines()) > 2 * len(headers)
    # read-only commands (global options after the command too) never say they removed something on a node
    said = [ctl("status", "--lang", "zh"), ctl("nodes"), ctl("plan", "--to", "2.2.0", "--json"), out]
    said.append(sh(ROLLBACK, "--config", ctl.config, "list", "--lang", "zh").stdout)
    assert not [text for text in said if re.search("remov|已删除|删除了", text)], said


def test_a_jump_that_fails_its_compatibility_checks_falls_back_or_is_refused(reference):
    """The §4.7.1.2 flowchart on the live cluster (products/drp/compat.json): the hot-fix fails the
    jump's database-structure check on the DB primary alone, every other kind passes on every node."""
    plan = reference["plan"]
    assert plan["upgrade_mode"] == "progressive_upgrade" and plan["path"][:2] == ["v1.0.0", "v1.5.0"]
    assert plan["fallback_reason"].startswith("the jump 1.0.0 -> 2.2.0 fails drp_schema_1_0_0_jump on node1 "
                                              "(column jobs.priority (tinyint(4) NOT NULL) is not part of")
    checks = plan["compatibility_checks"]
    jump = [c for c in checks if c["hop"] == "v1.0.0 -> v2.2.0"]
    assert [(c["check"], c["node"]) for c in jump if c["result"] == "fail"] == [("drp_schema_1_0_0_jump", "node1")]
    assert {c["kind"] for c in jump} == {"database_structure", "configuration", "api", "dependency", "data_format"}
    assert {c["node"] for c in jump} == {"node1", "node2", "node3"}
    first = [c for c in checks if c["hop"] == "v1.0.0 -> v1.5.0"]
    assert first and all(c["result"] == "pass" for c in first)
    assert all(c["result"] in ("pass", "skip") for c in checks if c["hop"] != "v1.0.0 -> v2.2.0")
    assert "fallback: the jump 1.0.0 -> 2.2.0 fails drp_schema_1_0_0_jump on node1" in reference["plan_text"]
    for out in reference["refused"].values():
        assert "the jump 1.0.0 -> 2.2.0 fails its compatibility checks; nothing was changed on any node" in out
        assert "drp_schema_1_0_0_jump (database_structure" in out and "on node1, hop v1.0.0 -> v2.2.0" in out
        assert "what to do:" in out
    assert reference["untouched"]
    j = reference["ctl"].journal()
    assert j["fallback_reason"] == plan["fallback_reason"] and j["compatibility_checks"]
    assert "fallback: the jump 1.0.0 -> 2.2.0 fails" in reference["out"]


def node_address(name):
    nodes = json.load(open(os.path.join(LAB_DIR, "nodes.json")))
    return {n["name"]: n["address"] for n in (nodes["nodes"] if isinstance(nodes, dict) else nodes)}[name]


RELAY_CUT = "iptables -w 5 %s INPUT -s {relay} -p tcp --dport 22 -j REJECT --reject-with tcp-reset -m comment " \
    "--comment test-relay"


@pytest.fixture(scope="module")
def jump(tmp_path_factory):
    """An uninterrupted jump 1.0.0 -> 2.2.0 (the matrix has a direct upgrade). Its package goes through
    a relay ([transfer] distribution = relay): node1 sends it on to node2; node3 refuses node1's ssh
    (REJECT in node3's netns) so the relay fails there and node3 gets it from the controller. A stale run
    key of a run that crashed is on node2 before the run (gone after it). The nodes' package copies
    of the earlier runs go first: a node that has the file skips its transfer, relayed or not."""
    install("1.0.0")
    for node in node_names():
        ssh(node, "rm -f /var/lib/drupgrade/packages/drp-*.tar.gz")
    ctl = Controller(tmp_path_factory.mktemp("jump"), transfer={"distribution": "relay"})
    plan = ctl.json("plan", "--to", "2.2.0")["upgrade_plan"]
    cut = RELAY_CUT.format(relay=node_address("node1"))
    ssh("node2", "echo 'restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOakcVIw4Dg5JygxDY4Wm2cEuqEOyQ/D2aEN4lWA75tB "
                 "drupgrade-relay:run_crashed' >> /root/.ssh/authorized_keys")
    ssh("node3", cut % "-I")
    try:
        out = ctl("run", "--to", "2.2.0")
    finally:
        ssh("node3", cut % "-D")
    return {"plan": plan, "after": fingerprint(), "ctl": ctl, "out": out}


def test_the_package_went_through_the_relay_verified_everywhere_and_no_run_key_is_left(jump):
    ctl, out = jump["ctl"], jump["out"]
    j = ctl.journal()
    relayed = {k.split("/")[2]: r.get("relay") for k, r in j["results"].items() if "/upload_package/" in k}
    assert relayed == {"node1": None, "node2": "node1", "node3": None}
    assert "node2: drp-2.2.0.tar.gz uploaded (relayed by node1)" in out
    assert "node3: drp-2.2.0.tar.gz is uploaded directly from the controller: the relay node1 could not send it" in out
    want = j["packages"]["2.2.0"]["sha256"]
    for node in node_names():  # every node's copy is the verified package
        assert ssh(node, "sha256sum /var/lib/drupgrade/packages/drp-2.2.0.tar.gz").stdout.split()[0] == want
        assert ssh(node, "grep -c drupgrade-relay /root/.ssh/authorized_keys", check=False).stdout.strip() == "0"
        assert ssh(node, "ls /var/lib/drupgrade/runs | grep -c '^relay-'", check=False).stdout.strip() == "0"


def test_jump_upgrade(jump):
    assert jump["plan"]["upgrade_mode"] == "jump_upgrade" and jump["plan"]["path"] == ["v1.0.0", "v2.2.0"]
    assert jump["ctl"].journal()["hops"] == [["1.0.0", "2.2.0"]]
    state_check("2.2.0")
    # The node tool reads the same phase directories as the controller: drstep lists the hop's
    # steps as the plan has them, the controller's own marked as such, and never runs one of those.
    listed = ssh("node1", "DRUPGRADE_LANG=en /opt/drupgrade/bin/drstep list").stdout.splitlines()
    hop = [[s["step"], s["phase"]] for s in jump["plan"]["steps"]]
    assert [line.split()[:2] for line in listed if line.split()[1] in {p for _s, p in hop}] == hop
    assert [line.split()[0] for line in listed if "(runs on the controller)" in line] == [
        "load_packages", "load_nodes", "upload_tool", "precheck", "upload_package", "collect_manifest"]
    p = ssh("node1", "/opt/drupgrade/bin/drstep upload_package run", check=False)
    assert p.returncode == 2 and "runs on the controller" in p.stdout
    # The hop's strategy (products/drp/strategies/) filled the steps: the plan names it and each
    # step's component, the node lists the same components and runs one by hand (docs/framework.md).
    assert [h["strategy_id"] for h in jump["plan"]["hops"]] == ["drp_to_v2"]
    bound = {s["step"]: s["component"] for s in jump["plan"]["steps"]}
    assert bound["start_services"] == "service/systemd" and bound["backup_db"] == "service/mariadb"
    assert all("[%s]" % bound[line.split()[0]] in line for line in listed if bound.get(line.split()[0]))
    p = ssh("node1", "/opt/drupgrade/bin/drstep component service/systemd post_check action=start "
                     "units=drp.target ready_url=http://127.0.0.1:8080/health ready_expect=version=2.2.0")
    assert p.returncode == 0
    p = ssh("node1", "/opt/drupgrade/bin/drstep check_services verify")
    assert p.returncode == 0


def journal_events(ctl):
    """How many events the controller has journaled (-1: no journal yet)."""
    try:
        return len(ctl.journal().get("events", []))
    except (OSError, ValueError, KeyError):
        return -1


def test_kill_9_at_random_moments_then_resume_ends_in_the_same_state(jump, tmp_path):
    """R1: ten SIGKILLs of the controller (with its ssh children), each followed by resume. Each
    kill comes at a random moment after the controller journaled something new, so that no kill
    is spent on a start-up and ten fit in one upgrade however fast or loaded the machine is."""
    install("1.0.0")
    # The jump's controller has run this hop once: its plan estimates each step from that run (the
    # slowest node of a parallel step) and the run from its steps (docs/upgrade.md, Estimates).
    plan = jump["ctl"].json("plan", "--to", "2.2.0")["upgrade_plan"]
    assert (plan["estimate_source"], plan["estimate_runs"]) == ("history", 1) and plan["estimated_seconds"] > 0
    ran = jump["ctl"].journal()["results"]
    install_step = [s for s in plan["steps"] if s["step"] == "install"][0]
    assert install_step["estimate_source"] == "history" and install_step["estimated_seconds"] == int(round(max(
        r["elapsed"] for k, r in ran.items() if k.startswith("hop1/install/"))))
    ctl = Controller(tmp_path)
    rng = random.Random(int(os.environ.get("DRUPGRADE_KILL_SEED", "20261128")))
    proc = ctl.popen("run", "--to", "2.2.0")
    kills, seen = 0, -1
    while kills < 10:
        deadline = time.time() + 600
        while journal_events(ctl) <= seen and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        seen = journal_events(ctl)
        proc = ctl.popen("resume")
    assert proc.wait(timeout=1800) == 0, ctl.journal().get("failures")
    print("SIGKILLs: %d" % kills)
    assert kills == 10, "the run finished after %d kills" % kills
    assert ctl.journal()["status"] == "done"
    assert fingerprint() == jump["after"]


def test_a_chaos_trial_ends_at_the_target_or_exactly_at_the_source(jump, tmp_path):
    """Issue 19: one trial of `make chaos` (bench/chaos.py, the same code) with a fixed seed, the jump's
    clean run as its reference: a fresh 1.0.0, the jump with the seed's faults (a controller SIGKILL, a
    node's link cut past the reconnect budget), the operator's commands as the tool's advice says; it
    ends at 2.2.0 exactly as the clean run or exactly at 1.0.0, with no process, lock, temporary file,
    fault or key of the tool left on a node."""
    sys.path.insert(0, os.path.join(TOP, "bench"))
    import chaos
    ref = {"fingerprint": jump["after"], "events": len(jump["ctl"].journal()["events"]),
           "steps": sorted({s["step"] for s in jump["plan"]["steps"]} - chaos.CONTROLLER_STEPS)}
    rec, = chaos.campaign(1, CHAOS_SEED, scenarios=["jump"], faults=("kill_controller", "cut_long"),
                          references={"jump": ref}, work=str(tmp_path))
    print(json.dumps(rec, indent=1))
    assert rec["outcome"] in ("upgraded", "rolled_back"), json.dumps(rec, indent=1)[-6000:]
    assert not rec["left"]
    assert [f for f in rec["faults"] if "fired_at" in f], "no fault of the seed fired"
    assert rec["commands"][0]["command"] == "upgrade.sh run --to 2.2.0 --mode jump"


def test_retry_rows_and_a_timeout_each_do_what_the_table_says(tmp_path):
    """One hop with a fault on a step of every kind of row of §4.2.2, and a too-short timeout."""
    install("2.1.0")
    ctl = Controller(tmp_path, run={"fault_injection": "on"}, timeouts={"stop_services": 4})
    arm("node2", "stop_services", "hang")     # timeout: the §4.3.2 block, context saved, then direct
    arm("node1", "backup_db", "fail")        # direct: retried, dump complete
    arm("node2", "backup_local", "crash")    # direct with cleanup: partial files removed, redone
    arm("node3", "start_etcd", "fail")       # direct after the membership check
    arm("node1", "db_migrate", "crash")      # from_unzip: full cleanup, restart at unzip
    arm("node2", "start_services", "fail")   # direct
    out = ctl("run", "--to", "2.2.0")
    j = ctl.journal()
    r = j["results"]
    assert r["hop1/backup_db/node1"]["attempts"] == 2
    assert r["hop1/backup_local/node2"]["attempts"] == 2
    # start_etcd: its own direct retry (2), then once more when the phase restarted at unzip (3).
    assert r["hop1/start_etcd/node3"]["attempts"] == 3
    assert r["hop1/unzip/node3"]["attempts"] == 2
    assert r["hop1/start_services/node2"]["attempts"] == 2
    restarts = [e for e in j["events"] if e.get("event") == "restart_at"]
    assert [e["step"] for e in restarts] == ["unzip"]
    assert "full environment cleanup before restarting at unzip" in out
    assert r["hop1/db_migrate/node1"]["status"] == "ok"
    assert r["hop1/stop_services/node2"]["attempts"] == 2
    for part in ("upgrade operation timed out on node node2", "step: [backup] stop the business services",
                 "timeout reason: service start timed out, port: 8080", "timeout setting: 4s",
                 "exceeded by:", "current environment: CPU:", "suggestion:", "context saved in:"):
        assert part in out, part
    warnings = out.index("[warning] the operation will time out soon")
    assert warnings < out.index("[urgent] the operation will time out soon") < out.index("timed out on node node2")
    text = open(re.search(r"context saved in: (\S+)", out).group(1), encoding="utf-8").read()
    assert "== processes" in text and "== database connections" in text and "== network" in text
    state_check("2.2.0")
    backups_verify(j)
    assert_the_run_report(ctl, j, out)


def assert_the_run_report(ctl, j, out):
    """Issue 18: the run's report, written by itself beside the journal at the end of the run: every node
    before -> after, every step that ran with each attempt (the retries, the timeout with its context,
    the warnings), and the page as headless Chromium shows it (a Gantt bar per attempt)."""
    folder = os.path.join(ctl.state, "runs", j["run_id"])
    assert "run report: %s" % os.path.join(folder, "report.html") in out
    doc = json.load(open(os.path.join(folder, "report.json"), encoding="utf-8"))
    with open(os.path.join(TOP, "lib", "python", "drupgrade", "schemas", "report.json"), encoding="utf-8") as f:
        jsonschema.Draft7Validator(json.load(f)).validate(doc)
    assert ctl.json("report", j["run_id"])["steps"] == doc["steps"]
    assert doc["outcome"] == "completed" and doc["path"] == ["2.1.0", "2.2.0"] and doc["plan"][0]["strategy"]
    assert [(n["name"], n["before"], n["after"], n["result"]) for n in doc["nodes"]] == [
        (n, "2.1.0", "2.2.0", "ok") for n in node_names()]
    ran = {k for k, r in j["results"].items() if r.get("attempts")}
    assert {"%s/%s/%s" % (s["hop"], s["step"], s["node"]) for s in doc["steps"]} == ran
    assert all(len(s["attempts"]) == j["results"]["%s/%s/%s" % (s["hop"], s["step"], s["node"])]["attempts"]
               for s in doc["steps"])
    retried = {(r["step"], r["node"]) for r in doc["retries"]}
    assert {("backup_db", "node1"), ("backup_local", "node2"), ("start_etcd", "node3"), ("db_migrate", "node1"),
            ("start_services", "node2"), ("stop_services", "node2")} <= retried
    [t] = doc["timeouts"]
    assert (t["step"], t["node"], t["timeout"]) == ("stop_services", "node2", 4)
    assert "== processes" in t["context_text"] and "== database connections" in t["context_text"]
    assert any("the operation will time out soon" in w["text"] for w in doc["warnings"])
    assert doc["precheck"] and doc["backups"][0]["status"] == "ready" and doc["rollbacks"] == []
    dom = chromium(os.path.join(folder, "report.html"), "--dump-dom")
    assert len(re.findall(r'<rect class="bar ', dom)) == sum(len(s["attempts"]) for s in doc["steps"])
    nodes = re.search(r'<section id="nodes">(.*?)</section>', dom, re.S).group(1)
    assert all("<td>%s</td><td>v2.1.0</td><td>v2.2.0</td>" % n in nodes for n in node_names())
    assert all("%s · %s" % (s["step"], s["node"]) in dom for s in doc["steps"])


def test_init_failure_means_start_over(tmp_path):
    """The advice printed after an init failure (retry policy restart) works as printed. The
    failure: the node tool package is missing beside the controller (a product package that is
    missing or not as signed is refused before any run begins, exit 2: it cannot fail init)."""
    install("2.1.0")
    ctl = Controller(tmp_path)
    aside = tmp_path / "aside"
    os.makedirs(str(aside))
    tool = glob.glob(os.path.join(TOP, "build", "dist", "drupgrade-node-*.tar.gz"))
    assert tool, "make build writes the node tool package into build/dist"
    for path in tool:
        shutil.move(path, str(aside))
    try:
        out = ctl("run", "--to", "2.2.0", expect=1)
    finally:  # fix the cause: the tool package back beside the controller
        for path in tool:
            shutil.move(os.path.join(str(aside), os.path.basename(path)), path)
    assert "the node tool package drupgrade-node-" in out and "is missing beside the controller" in out
    advice = re.search(r"fix the cause, then start over with: (bin/upgrade\.sh run --to \S+)\n", out).group(1)
    failed = ctl.journal()
    assert (failed["status"], failed["failed_phase"]) == ("failed", "init")
    out = ctl(*advice.split()[1:])  # exactly the printed command, with the test's --config
    assert "run %s failed where the policy is to start over" % failed["run_id"] in out
    j = ctl.journal()
    assert j["run_id"] != failed["run_id"] and j["status"] == "done"
    assert json.load(open(os.path.join(ctl.state, "runs", failed["run_id"], "journal.json")))["status"] == "restarted"
    assert {n["current_version"] for n in ctl.status()["nodes"].values()} == {"v2.2.0"}


def wait_for_result(ctl, key, status="ok", seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if ctl.journal().get("results", {}).get(key, {}).get("status") == status:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("%s never became %s" % (key, status))


def wait_for_version_state(ctl, condition, proc):
    """True once <state_dir>/version_state.json meets condition, False when proc ended first."""
    path = os.path.join(ctl.state, "version_state.json")
    while proc.poll() is None:
        try:
            if condition(json.load(open(path))["version_state"]):
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    return False


def test_precheck_then_lock_then_disk_full_then_retry(tmp_path):
    """Precheck collects every failure (exit 3, nothing touched); while the retry runs a second
    run is refused (exit 5); a disk that fills during the backup fails that step cleanly (R4); a
    from_unzip failure that its automatic restart does not cure is retried by hand through the
    same interpreter (full environment cleanup, restart at unzip)."""
    install("2.1.0")
    # stop_db hangs on node2 (and times out: the window in which the disk fills up). A failure after
    # the backup stops the run for 'retry' ([run] on_failure = stop), as this test retries it by hand.
    ctl = Controller(tmp_path, run={"fault_injection": "on", "on_failure": "stop"}, timeouts={"stop_db": 20})
    arm("node2", "stop_db", "hang")
    sh(LAB, "fault", "fill-disk", "node1", "/backup", "8M")  # two real inhibitors on two nodes
    ssh("node3", "cp -p /etc/passwd /etc/passwd.orig && echo 'x2048:x:2049:2049:2048:/:/bin/false' >> /etc/passwd")
    try:
        out = ctl("run", "--to", "2.2.0", expect=3)
    finally:
        ssh("node3", "mv /etc/passwd.orig /etc/passwd")
        sh(LAB, "fault", "unfill-disk", "node1", "/backup")
    assert "[FAIL] node1 disk_backup" in out and "[FAIL] node3 uid_2048" in out
    assert ctl.journal()["status"] == "failed" and ctl.journal()["failed_phase"] == "precheck"
    assert ssh("node1", "cat /opt/drp/VERSION").stdout.strip() == "2.1.0"

    proc = ctl.popen("retry")
    try:
        wait_for_result(ctl, "hop1/stop_db/node2", "running")
        # status while the step runs (design §4.7.3): its progress and elapsed time, the run's estimated
        # completion; the backup is not complete, so there is nothing to roll back to yet
        vs = ctl.status()
        assert vs["upgrade_status"] == "in_progress" and vs["estimated_completion"]
        assert vs["current_step"]["status"] == "running" and vs["current_step"]["progress"].endswith("%")
        assert re.match(r"^(\d+m)?\d+s$", vs["current_step"]["elapsed_time"])
        assert vs["rollback_available"] is False
        assert [p["backup_status"] for p in vs["rollback_points"]] == ["in_progress"]
        # version_state.json follows the run every 10 s while it runs: within the 20 s stop_db hangs
        assert wait_for_version_state(ctl, lambda v: v["current_step"] and v["run_id"] == vs["run_id"], proc)
        out = ctl("run", "--to", "2.2.0", expect=5)
        assert "holds the lock" in out
        sh(LAB, "fault", "fill-disk", "node2", "/backup", "8M")
        assert proc.wait(timeout=600) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # The 20 s of stop_db said their progress at 10 s in the design's form, with the run's counts, in
    # the controller's log (the command's output is not a terminal here: the same lines as on one).
    log = open(os.path.join(ctl.state, "logs", "controller.log"), encoding="utf-8").read()
    assert re.search(r"\[progress\] \d+% \(\d+/\d+ steps done\), \[backup\] node2 stop_db: running for 10 s "
                     r"\(timeout 20 s\)", log)
    try:
        j = ctl.journal()
        assert j["results"]["hop1/backup_local/node2"]["status"] == "failed"
        backup_id = j["hop_info"]["hop1"]["backup_id"]
        marks = ssh("node2", "cat /var/lib/drupgrade/node-state/backup_state.json 2>/dev/null || true").stdout
        assert backup_id not in marks, "a failed backup was marked complete"
        assert ssh("node2", "ls /backup/%s/backup_manifest.json" % backup_id, check=False).returncode != 0
        assert ssh("node2", "cat /opt/drp/VERSION").stdout.strip() == "2.1.0"
        assert "hop1/unzip/node2" not in j["results"]
    finally:
        sh(LAB, "fault", "unfill-disk", "node2", "/backup")
    arm("node1", "db_migrate", "crash 2")  # the first attempt and the automatic restart at unzip
    out = ctl("retry", expect=1)
    assert "full environment cleanup before restarting at unzip" in out
    j = ctl.journal()
    assert (j["status"], j["failed_phase"]) == ("failed", "upgrade")
    assert j["results"]["hop1/db_migrate/node1"]["attempts"] == 2
    # What the node's steps read, gone or stale, as after a tool dir unpacked again (chaos trial 19.49:
    # the steps then bound nothing and 'succeeded'): the retry writes each node's context first.
    ssh("node3", "rm /opt/drupgrade/context.env")
    ssh("node2", "sed -i 's/^DR_RUN_ID=.*/DR_RUN_ID=run_19700101_000000/' /opt/drupgrade/context.env")
    out = ctl("retry")  # by hand: the same cleanup on every node, the same restart, as the automatic one
    for node in ("node2", "node3"):
        assert "DR_RUN_ID=%s\n" % j["run_id"] in ssh(node, "cat /opt/drupgrade/context.env").stdout
    assert "retrying db_migrate on node1: full environment cleanup" in out
    assert "[upgrade] node3: full environment cleanup before restarting at unzip" in out
    j = ctl.journal()
    assert [e["step"] for e in j["events"] if e.get("event") == "restart_at"] == ["unzip", "unzip"]
    assert j["results"]["hop1/db_migrate/node1"]["attempts"] == 3 and j["results"]["hop1/unzip/node3"]["attempts"] == 3
    state_check("2.2.0")
    backups_verify(j)
