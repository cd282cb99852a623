"""drp 2.3.0 added as data (issue 14): its hops run on the strategies of products/drp/ alone.

One 2.2.0 install is upgraded to 2.3.0 once (module fixture): the plan names the strategy, the
state checks of 2.3.0 pass, the config has kmc.endpoint and neither kmc.url nor app.max_threads,
job_events holds the creation times jobs.created_at had, drp-events runs on the app nodes. Then
rollback_tool takes it back to exactly the 2.2.0 state (exact_state.sh: byte for byte, and no drp
unit left running that 2.2.0 does not have). Last, a fresh 1.0.0 jumps to 2.3.0 in one hop.
"""
import configparser
import hashlib
import os

import pytest
from labtools import LAB_DIR, TOP, Controller, diff, install, snapshot, ssh, state_check

pytestmark = pytest.mark.usefixtures("lab")
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
    up, rb = Controller(tmp), Rollback(tmp)
    rb.config = up.config
    before, jobs = snapshot(), sql_digest(CREATED_BEFORE)
    plan = up.json("plan", "--to", "2.3.0")["upgrade_plan"]
    up("run", "--to", "2.3.0")
    return {"before": before, "jobs": jobs, "plan": plan, "up": up, "rb": rb}


def test_2_2_0_to_2_3_0_on_its_strategy_passes_the_2_3_0_state_checks(hop):
    plan = hop["plan"]
    assert plan["path"] == ["v2.2.0", "v2.3.0"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["drp_v2_to_v2_3"]
    bound = {s["step"]: s["component"] for s in plan["steps"]}
    assert bound["config_pre"] == "service/config" and bound["check_services"] == "service/monitor"
    assert hop["up"].journal()["hops"] == [["2.2.0", "2.3.0"]]
    assert hop["jobs"][1] > 0
    assert_at_2_3_0(hop["jobs"])


def test_rollback_from_2_3_0_gives_back_2_2_0_exactly_and_stops_drp_events(hop):
    out = hop["rb"]("--yes", "auto", "latest")
    assert "complete: every node is back at 2.2.0" in out
    now = snapshot()
    running = [line for text in now.values() for line in text.splitlines() if line.startswith("running ")]
    assert running and not [line for line in running if "drp-events" in line], running
    assert now == hop["before"], "the nodes differ from the 2.2.0 state before the upgrade:\n" + diff(
        hop["before"], now)  # (rollback_verify checked 2.2.0's health, units, replication and tables)


def test_jump_1_0_0_to_2_3_0_on_its_strategy_passes_the_2_3_0_state_checks(tmp_path):
    install("1.0.0")
    jobs = sql_digest(CREATED_BEFORE)
    ctl = Controller(tmp_path)
    plan = ctl.json("plan", "--to", "2.3.0")["upgrade_plan"]
    assert plan["upgrade_mode"] == "jump_upgrade" and plan["path"] == ["v1.0.0", "v2.3.0"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["drp_v1_to_v2_3"]
    ctl("run", "--to", "2.3.0")
    assert_at_2_3_0(jobs)
