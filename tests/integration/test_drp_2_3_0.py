"""drp 2.3.0 added as data (issue 14): its hops run on the strategies of products/drp/ alone.

One 2.2.0 install is upgraded to 2.3.0 once (module fixture). The hop rolls (issue 20): the plan
says so (its waves, why not otherwise, the downtime it expects), the nodes move one wave at a time
(the DB primary last, the migration's expand before the first wave and its contract after the last),
and a prober asking every node's /health twice a second from its network namespace saw at least one
node serving at every tick of the run. The state checks of 2.3.0 pass, the config has kmc.endpoint
and neither kmc.url nor app.max_threads, job_events holds the creation times jobs.created_at had,
drp-events runs on the app nodes. The same run carries the plugins of tests/fixtures/plugins (issue
17): hostile ones of every kind before unzip, benign ones of each type at their hooks; the upgrade
goes on, each ends as its type's policy says, inside its limits, and nothing outside a sandbox
changed. Then rollback_tool takes it back to exactly the 2.2.0 state (exact_state.sh: byte for byte,
and no drp unit left running that 2.2.0 does not have). A roll whose last node fails its health check
for good rolls back by itself, node by node with a node serving throughout, to exactly the 2.2.0
state, every node (the contract half runs only after that health check). Last, a fresh 1.0.0
jumps to 2.3.0 in one hop.
"""
import configparser
import hashlib
import json
import os
import time

import pytest
from labtools import LAB_DIR, LAB_NAME, TOP, Controller, arm, diff, install, plugin_runs, snapshot, ssh, state_check
from probe import Prober, cluster_down

pytestmark = pytest.mark.usefixtures("lab")
PLUGINS = os.path.join(TOP, "tests", "fixtures", "plugins")
MB = 1024  # kB
DRP = "/opt/drp/bin/"
# A job's creation time: from jobs (2.2.0) and from job_events (2.3.0), one line per job.
CREATED_BEFORE = "SELECT id, created_at FROM drp.jobs ORDER BY id"
CREATED_AFTER = "SELECT job_id, at FROM drp.job_events WHERE event = 'created' ORDER BY job_id"


class Rollback(Controller):
    tool = os.path.join(TOP, "bin", "rollback_tool")


def sql_digest(query):
    """sha256 of a query's rows on the primary (node1), and how many rows."""
    rows = ssh("node1", "mariadb -N -B -e \"%s\"" % query).stdout
    return hashlib.sha256(rows.encode()).hexdigest(), len(rows.splitlines())


def app_nodes():
    ini = configparser.RawConfigParser()
    ini.read(os.path.join(LAB_DIR, "upgrade.ini"), encoding="utf-8")
    return [s.split(":", 1)[1] for s in ini.sections()
            if s.startswith("node:") and "app" in [r.strip() for r in ini.get(s, "roles").split(",")]]


def assert_at_2_3_0(jobs_before):
    """The state checks of 2.3.0 and what 2.3.0 changed, on every node."""
    state_check("2.3.0")
    for node in app_nodes():
        out = ssh(node, DRP + "drp-config get kmc.endpoint && ! " + DRP + "drp-config get kmc.url && ! "
                  + DRP + "drp-config get app.max_threads && ! test -e /etc/drp/drp.ini && "
                  "systemctl is-active drp-events.service drp-app.service", check=False)
        assert out.returncode == 0 and out.stdout.split()[-2:] == ["active", "active"], (node, out.stdout)
    assert sql_digest(CREATED_AFTER) == jobs_before  # every job's creation time moved, none lost
    cols = ssh("node1", "mariadb -N -B -e \"SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'drp' AND table_name = 'jobs'\"").stdout.split()
    assert "created_at" not in cols


@pytest.fixture(scope="module")
def hop(tmp_path_factory):
    """drp 2.2.0, its exact state and its jobs' creation times, then one run to 2.3.0; the upgrade
    and rollback_tool share one controller state directory."""
    install("2.2.0")
    tmp = tmp_path_factory.mktemp("drp230")
    rb = Rollback(tmp)
    up = Controller(tmp, plugins={"dir": PLUGINS})  # the same upgrade.ini, with the plugins
    rb.config = up.config
    before, jobs = snapshot(), sql_digest(CREATED_BEFORE)
    plan = up.json("plan", "--to", "2.3.0")["upgrade_plan"]
    t0 = time.time() + 0.2  # every node's health, each tick its own probe (a slow answer counts as down)
    probers = [Prober("%s-%s" % (LAB_NAME, n), "http://127.0.0.1:8080/health", t0, 0.5, 5) for n in app_nodes()]
    for p in probers:
        p.thread.start()
    try:
        up("run", "--to", "2.3.0")
    finally:
        for p in probers:
            p.stop.set()
            p.thread.join()
    return {"before": before, "jobs": jobs, "plan": plan, "up": up, "rb": rb, "probers": probers}


def test_2_2_0_to_2_3_0_rolls_wave_by_wave_serving_throughout_and_passes_the_2_3_0_state_checks(hop):
    plan = hop["plan"]
    assert plan["path"] == ["v2.2.0", "v2.3.0"]
    h, = plan["hops"]
    assert h["strategy_id"] == "drp_v2_2_to_v2_3_rolling" and h["rolls"] and h["why_not_rolling"] is None
    assert h["waves"] == [["node2"], ["node3"], ["node1"]]  # the replica before the primary, one app node at a time
    assert h["downtime"]["cluster_s"] == 0 and h["downtime"]["node_s"] > 0
    assert h["downtime"]["db_write_pause_s"] > 0  # the expand and contract halves, while the database serves
    bound = {s["step"]: s["component"] for s in plan["steps"]}
    assert bound["config_pre"] == "service/config" and bound["check_services"] == "service/monitor"
    assert bound["db_migrate"] == bound["db_contract"] == "business/data_migration" and bound["stop_db"] is None
    assert [(s["step"], s["wave"]) for s in plan["steps"] if s["step"] in ("db_migrate", "db_contract")] == [
        ("db_migrate", [1, 3]), ("db_contract", [3, 3])]
    j = hop["up"].journal()
    assert j["hops"] == [["2.2.0", "2.3.0"]] * 3 and j["status"] == "done"
    assert j["hop_waves"] == {"hop1": [1, 3], "hop2": [2, 3], "hop3": [3, 3]}
    assert len({info["backup_id"] for info in j["hop_info"].values()}) == 1  # one rollback point, every node
    # expand ran on the primary before any node moved, contract after the last one
    ran = {(r["hop"], r["step"], r["node"]) for r in j["results"].values() if r["status"] == "ok"
           and r["step"] in ("db_migrate", "db_contract", "start_services")}
    assert ran == {("hop1", "db_migrate", "node1"), ("hop1", "start_services", "node2"),
                   ("hop2", "start_services", "node3"), ("hop3", "start_services", "node1"),
                   ("hop3", "db_contract", "node1")}, ran
    probers = hop["probers"]
    assert min(len(p.ticks) for p in probers) > 10 and cluster_down(probers) == [], [p.ticks for p in probers]
    assert all(not all(p.ticks.values()) for p in probers)  # each node was down for its own restart
    assert hop["jobs"][1] > 0
    assert_at_2_3_0(hop["jobs"])


def last(runs, node="node1"):
    return [rec for n, rec in runs if n == node][-1]


def test_plugins_end_as_their_type_says_inside_their_limits_and_the_upgrade_goes_on(hop):
    up = hop["up"]
    assert up.journal()["status"] == "done"
    runs = plugin_runs(up.journal())
    nodes = sorted(n for n in app_nodes())
    # hostile third-party plugins (node1: role db_primary): one attempt each, then skipped, the upgrade goes on
    hostile = ("tp-sleep", "tp-hog", "tp-fork", "tp-spin", "tp-escape", "tp-crash", "tp-exit1")
    assert {k: [n for n, _r in runs[k]] for k in hostile} == {k: ["node1"] for k in hostile}, runs
    assert [k for k in hostile if last(runs[k])["outcome"] == "skipped"] == [
        "tp-sleep", "tp-hog"] + (["tp-fork"] if last(runs["tp-fork"])["rc"] else []) + ["tp-crash", "tp-exit1"]
    assert (last(runs["tp-sleep"])["reason"], last(runs["tp-sleep"])["rc"]) == ("timeout", 124)
    assert last(runs["tp-hog"])["reason"] == "memory" and last(runs["tp-hog"])["peak_memory_kb"] <= 128 * MB
    assert last(runs["tp-crash"])["reason"] == "signal" and last(runs["tp-exit1"])["reason"] == "exit"
    spin = last(runs["tp-spin"])  # every CPU spun for 2 s: the type's 20 % of one CPU held it
    assert spin["cpu_ms"] <= 0.3 * spin["duration_ms"], spin
    # a business plugin: 2 attempts (5 s apart), then skipped; its own, higher limit
    assert [r["outcome"] for _n, r in runs["biz-hog"]] == ["retry", "skipped"]
    assert all(r["reason"] == "memory" and 128 * MB < r["peak_memory_kb"] <= 256 * MB for _n, r in runs["biz-hog"])
    # nothing of the sandbox reached the node: the escape plugin was denied everything, as nobody
    tried = ssh("node1", "cat /var/lib/drupgrade/plugins/tp-escape/work/tried").stdout.splitlines()
    assert tried[-1] == "65534" and all(line.startswith("denied ") for line in tried[:-1]) and len(tried) == 10, tried
    left = ssh("node1", "ls /etc/plugin-escape /opt/drp/plugin-escape /var/tmp/plugin-escape /root/plugin-escape "
                        "2>/dev/null; systemctl list-units --all --no-legend 'drupgrade-plugin-*'; "
                        "pgrep -c -f '[b]omb|[b]ytearray' || true").stdout.split()
    assert left == ["0"], left
    # benign plugins of each type ran at their hooks with the run's context
    assert sorted(n for n, r in runs["core-mark"] if r["outcome"] == "ok") == sorted(nodes_all())
    for node in nodes_all():
        mark = ssh(node, "cat /var/lib/drupgrade-plugin-test/core-mark").stdout.split()
        assert mark[:4] == [node, "2.2.0", "2.3.0", "after:stop_services"] and mark[4] != "active", mark
        note = ssh(node, "cat /var/lib/drupgrade/plugins/biz-note/work/note").stdout.strip()
        assert note == "installed 2.3.0 on %s" % node
    assert sorted(n for n, r in runs["tp-note"] if r["outcome"] == "ok") == nodes
    for node in nodes:
        assert ssh(node, "cat /var/lib/drupgrade/plugins/tp-note/work/note").stdout.strip() == \
            "2.3.0 on %s as 65534" % node
    # the database plugin's SQL: committed on the primary once it succeeded, replicated
    assert [(n, r["outcome"]) for n, r in runs["db-audit"]] == [("node1", "ok")]
    assert ssh("node1", "mariadb -N -B -e 'SELECT what FROM drp.plugin_audit'").stdout.strip() == "upgraded to 2.3.0"
    # the status shows how each ended
    status = up("status")
    assert "plugin tp-hog at step unzip on node1: skipped after 1 attempt(s) (memory;" in status
    # by hand, isolated the same way: a database plugin whose SQL fails leaves nothing of it
    out = ssh("node1", "touch /var/lib/drupgrade-plugin-test/db-bad && /opt/drupgrade/bin/drstep plugin db-audit run; "
                       "echo rc=$?; rm -f /var/lib/drupgrade-plugin-test/db-bad; "
                       "mariadb -N -B -e 'SELECT COUNT(*) FROM drp.plugin_audit; "
                       "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = \"plugin_bad\"'",
               check=False).stdout
    assert "result rc=1 reason=sql" in out and "rc=1" in out and out.split()[-2:] == ["1", "0"], out


def nodes_all():
    ini = configparser.RawConfigParser()
    ini.read(os.path.join(LAB_DIR, "upgrade.ini"), encoding="utf-8")
    return sorted(s.split(":", 1)[1] for s in ini.sections() if s.startswith("node:"))


def test_rollback_from_2_3_0_gives_back_2_2_0_exactly_and_stops_drp_events(hop):
    out = hop["rb"]("--yes", "auto", "latest")
    assert "complete: every node is back at 2.2.0" in out
    now = snapshot()
    running = [line for text in now.values() for line in text.splitlines() if line.startswith("running ")]
    assert running and not [line for line in running if "drp-events" in line], running
    assert now == hop["before"], "the nodes differ from the 2.2.0 state before the upgrade:\n" + diff(
        hop["before"], now)  # (rollback_verify checked 2.2.0's health, units, replication and tables)


def test_a_node_that_fails_its_health_check_in_the_last_wave_is_rolled_back_node_by_node_to_exactly_2_2_0(tmp_path):
    """node1's wave (the last, the DB primary's) fails its health check for good: every node runs 2.3.0,
    but the contract half never ran (it follows the last wave's health check), so the automatic
    rollback takes the nodes back wave by wave in the roll's order (node2 | node3 | node1), the others
    serving meanwhile, and node1's wave undoes the expand half instead of restoring the dump. The
    prober saw a serving node at every tick of the upgrade and its rollback, and the state is exactly
    the 2.2.0 one before the run. (A roll stopped before its last wave began restores node1 as well:
    the catalog's one point of every node, tests/unit/test_rollback.py.)"""
    install("2.2.0")
    before = snapshot()
    ctl = Controller(tmp_path, run={"fault_injection": "on"})
    arm("node1", "check_services", "fail 9")
    t0 = time.time() + 0.2
    probers = [Prober("%s-%s" % (LAB_NAME, n), "http://127.0.0.1:8080/health", t0, 0.5, 5) for n in app_nodes()]
    for p in probers:
        p.thread.start()
    try:
        out = ctl("run", "--to", "2.3.0", expect=1)
    finally:
        for p in probers:
            p.stop.set()
            p.thread.join()
        ssh("node1", "rm -f /var/lib/drupgrade/faults/check_services")
    j = ctl.journal()
    assert j["status"] == "rolled_back" and [(f["step"], f["node"]) for f in j["failures"]] == [
        ("check_services", "node1")]
    assert {r["hop"] for r in j["results"].values()} - {"run"} == {"hop1", "hop2", "hop3"}
    assert not [k for k in j["results"] if "/db_contract/" in k]  # the contract half follows the health check
    assert "goes node by node, in the roll's 3 waves (node2 | node3 | node1)" in out
    assert "the cluster is back at the old version: every node runs 2.2.0" in out
    session = j["auto_rollback"]["rollback_id"]
    rb = Rollback(tmp_path)
    rb.config = ctl.config
    info = rb.json("status")["rollback_session"]  # the session journal read back as resume reads it
    assert (info["rollback_id"], info["online"], info["status"]) == (session, True, "completed")
    with open(os.path.join(ctl.state, "rollbacks", session, "journal.json"), encoding="utf-8") as f:
        s = json.load(f)
    assert s["online"] and s["hop_nodes"] == {"rollback_w1": ["node2"], "rollback_w2": ["node3"],
                                              "rollback_w3": ["node1"]}
    stopped = sorted((r["hop"], r["node"]) for r in s["results"].values() if r["step"] == "rollback_stop")
    assert stopped == [("rollback_w1", "node2"), ("rollback_w2", "node3"), ("rollback_w3", "node1")]
    undo = {(r["hop"], r["node"]): r["status"] for r in s["results"].values() if r["step"] == "rollback_db"}
    assert {hop for hop, _node in undo} == {"rollback_w3"} and undo[("rollback_w3", "node1")] == "ok"
    with open(os.path.join(ctl.state, "logs", session, "node1", "rollback_db.log"), encoding="utf-8") as f:
        log = f.read()
    assert "drp-migrate] rolling back 0006" in log, log
    assert min(len(p.ticks) for p in probers) > 10 and cluster_down(probers) == [], [p.ticks for p in probers]
    assert all(not all(p.ticks.values()) for p in probers)  # each node went down for its own restart
    now = snapshot()
    assert now == before, "the nodes differ from the 2.2.0 state before the run:\n" + diff(before, now)


def test_jump_1_0_0_to_2_3_0_on_its_strategy_passes_the_2_3_0_state_checks(tmp_path):
    install("1.0.0")
    jobs = sql_digest(CREATED_BEFORE)
    ctl = Controller(tmp_path)
    plan = ctl.json("plan", "--to", "2.3.0")["upgrade_plan"]
    assert plan["upgrade_mode"] == "jump_upgrade" and plan["path"] == ["v1.0.0", "v2.3.0"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["drp_v1_to_v2_3"]
    ctl("run", "--to", "2.3.0")
    assert_at_2_3_0(jobs)
