"""drupgrade.estimates and the estimates of Runner (plan's estimated_time, version_state's
estimated_completion and current step): against fake histories, journals written as runs write them."""
import json
import os

import pytest

from drupgrade import estimates, i18n, runner, steps
from drupgrade.journal import Journal

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


def step(name, fanout="parallel", estimate=None, roles="any", phase="upgrade"):
    header = {"Summary": name, "Summary-zh": name, "Timeout": "600", "Retry": "direct", "Roles": roles,
              "Fanout": fanout}
    if estimate is not None:
        header["Estimate"] = str(estimate)
    return steps.Step("/x/%s.sh" % name, 10, name, header, phase)


def iso(seconds):
    return estimates.iso(1800000000 + seconds)


def history(runs_dir, run_id, times, hop=("2.1.0", "2.2.0"), product="drp", status="done", start=0, **extra):
    """A journal of an earlier run: times {step: [elapsed per node]}; every step of one hop (hop1),
    one after the other from `start` (seconds), each node's result ok in one attempt."""
    results, t = {}, start
    for name, elapsed in times.items():
        for i, e in enumerate(elapsed):
            results["hop1/%s/node%d" % (name, i + 1)] = {
                "status": "ok", "attempts": 1, "elapsed": e, "started": iso(t), "ended": iso(t + e)}
        t += max(elapsed)
    data = dict({"run_id": run_id, "status": status, "events": [], "product": product, "hops": [list(hop)],
                 "hop_info": {"hop1": {"backup_id": "backup_20261202_000000", "from": hop[0], "to": hop[1]}},
                 "results": results}, **extra)
    os.makedirs(os.path.join(runs_dir, run_id))
    with open(os.path.join(runs_dir, run_id, "journal.json"), "w") as f:
        json.dump(data, f)
    return data


def test_waves_and_wall_follow_the_fanout():
    assert estimates.waves("parallel", 3, 4) == 1 and estimates.waves("parallel", 9, 4) == 3
    assert estimates.waves("serial", 3, 4) == 3
    assert estimates.waves("primary-first", 3, 4) == 2 and estimates.waves("primary-first", 1, 4) == 1
    assert estimates.wall("parallel", [1, 5, 2], 4) == 5
    assert estimates.wall("parallel", [1, 5, 2], 2) == 5 + 2  # two waves: the longest of each
    assert estimates.wall("serial", [1, 5, 2], 4) == 8
    assert estimates.wall("primary-first", [4, 5, 2], 4) == 4 + 5


def test_a_step_is_the_median_of_its_last_runs_of_the_same_hop(tmp_path):
    runs = str(tmp_path)
    a, b = step("install"), step("backup_db", estimate=99)
    history(runs, "run_1", {"install": [100, 100, 100], "backup_db": [4]})  # older than the last 5
    for i, t in enumerate([10, 12, 30, 11, 13]):
        history(runs, "run_%d" % (i + 2), {"install": [t - 1, t, t - 2], "backup_db": [4, 6]})
    history(runs, "run_7", {"install": [500]}, hop=("2.0.0", "2.1.0"))  # another hop
    history(runs, "run_8", {"install": [900]}, product="arc")  # another product
    est = estimates.Estimator.load(runs, "drp", [a, b], max_parallel=4)
    e = est.step(a, ("2.1.0", "2.2.0"), 3)
    assert (e.seconds, e.source, e.runs) == (12, estimates.HOP, 5)  # median of 10 12 30 11 13: 30 is ignored
    assert est.step(b, ("2.1.0", "2.2.0"), 2).seconds == 6  # history wins over the declared 99
    assert est.step(a, ("2.0.0", "2.1.0"), 3).seconds == 500


def test_a_step_that_fans_out_serially_scales_with_the_node_count(tmp_path):
    runs = str(tmp_path)
    s = step("rolling", fanout="serial")
    history(runs, "run_1", {"rolling": [10, 10]})  # two nodes one after the other: 20 s, 10 s a node
    est = estimates.Estimator.load(runs, "drp", [s], max_parallel=4)
    assert est.step(s, ("2.1.0", "2.2.0"), 5).seconds == 50
    p = step("rolling", fanout="parallel")
    est = estimates.Estimator.load(runs, "drp", [p], max_parallel=2)
    assert est.step(p, ("2.1.0", "2.2.0"), 5).seconds == 30  # 3 waves of 2


def test_without_the_hop_other_hops_then_the_declared_estimate_then_none(tmp_path):
    runs = str(tmp_path)
    history(runs, "run_1", {"install": [7, 9]}, hop=("1.0.0", "1.5.0"))
    a, b, c = step("install", estimate=60), step("unzip", estimate=5, fanout="serial"), step("other")
    est = estimates.Estimator.load(runs, "drp", [a, b, c], max_parallel=4)
    e = est.step(a, ("2.1.0", "2.2.0"), 3)
    assert (e.seconds, e.source, e.runs) == (9, estimates.PRODUCT, 1)
    e = est.step(b, ("2.1.0", "2.2.0"), 3)
    assert (e.seconds, e.source) == (15, estimates.DECLARED)
    e = est.step(c, ("2.1.0", "2.2.0"), 3)
    assert (e.seconds, e.source, e.text) == (0, estimates.NONE, "unknown")
    total = est.run([est.step(x, ("2.1.0", "2.2.0"), 3) for x in (a, b, c)])
    assert (total.seconds, total.source) == (24, estimates.PRODUCT)  # the weakest source it rests on


def test_the_run_adds_the_time_between_steps_measured_on_this_controller(tmp_path):
    runs = str(tmp_path)
    data = history(runs, "run_1", {"a": [10], "b": [10]})
    data["results"]["hop1/b/node1"]["ended"] = iso(25)  # 5 s between and after the steps
    with open(os.path.join(runs, "run_1", "journal.json"), "w") as f:
        json.dump(data, f)
    history(runs, "run_2", {"a": [10], "b": [10]}, status="failed")  # a failed run says nothing of it
    a, b = step("a"), step("b")
    est = estimates.Estimator.load(runs, "drp", [a, b], max_parallel=4)
    assert est.overhead == pytest.approx(25 / 20.0)
    total = est.run([est.step(s, ("2.1.0", "2.2.0"), 1) for s in (a, b)])
    assert total.seconds == pytest.approx(25) and total.as_dict()["estimated_time"] == "25 s"


def test_a_journal_from_before_estimates_is_known_by_its_package_and_bad_ones_are_passed_over(tmp_path):
    runs = str(tmp_path)
    history(runs, "run_1", {"a": [8]}, product=None, packages={"2.2.0": {"file": "/repo/drp-2.2.0.tar.gz"}})
    os.makedirs(os.path.join(runs, "run_2"))
    with open(os.path.join(runs, "run_2", "journal.json"), "w") as f:
        f.write("{cut sh")
    est = estimates.Estimator.load(runs, "drp", [step("a")], max_parallel=4)
    assert est.step(step("a"), ("2.1.0", "2.2.0"), 1).seconds == 8
    assert estimates.Estimator.load(runs, "drp", [step("a")], 4, exclude="run_1").step(
        step("a"), ("2.1.0", "2.2.0"), 1).source == estimates.NONE


# -- the runner: plan's and version_state's estimates, on the real step table ----------------------
class Node:
    def __init__(self, name, roles):
        self.name, self.host, self.roles = name, "10.0.0.%s" % name[-1], roles


class Cfg:
    def __init__(self, state_dir):
        self.nodes = [Node("node1", ["db_primary", "etcd", "kmc", "app"]),
                      Node("node2", ["db_replica", "etcd", "kmc", "app"]), Node("node3", ["etcd", "app"])]
        self.run = {"max_parallel": 4}
        self.paths = {"state_dir": state_dir}
        self.product_name = "drp"
        self.timeouts = {}


class Ctx:
    def __init__(self, cfg):
        self.config, self.console, self.root, self.args = cfg, None, TOP, None


def test_version_state_has_every_field_of_the_design_with_this_runs_values(tmp_path):
    state_dir = str(tmp_path)
    r = runner.Runner(Ctx(Cfg(state_dir)))
    hop = ("2.1.0", "2.2.0")
    names = [s.name for s in r.steps() if not steps.once_per_run(s.phase)]
    # an earlier run that failed at its end: its steps are timed, its wall time is not (overhead 1)
    history(r.runs_dir, "run_20261201_000000", {n: [20, 20, 20] for n in names}, status="failed")
    j = Journal.create(r.runs_dir, "run_20261202_000000", target="2.2.0", hops=[list(hop)], product="drp",
                       upgrade_mode="jump_upgrade", versions_before={"node1": "2.1.0", "node2": "2.1.0",
                                                                     "node3": "2.1.0"}, started=iso(0))
    info = j.hop_info("hop1", *hop)
    all_steps = r.steps()
    by = {s.name: s for s in all_steps}
    for s in all_steps:
        if steps.once_per_run(s.phase):
            for n in (["controller"] if "controller" in s.roles else ["node1", "node2", "node3"]):
                j.finish("run", s, n, 0)
    for n in ("node1", "node2", "node3"):
        j.begin("hop1", n, by["upload_package"], local=True)
        j.note("hop1", by["upload_package"], n, elapsed=20.0)
        j.finish("hop1", by["upload_package"], n, 0)
    j.begin("hop1", "node1", by["stop_services"], run_key="k1")
    j.data["results"]["hop1/stop_services/node1"]["started"] = iso(100)

    v = r.version_state(j, now=1800000000 + 105)["version_state"]
    design = {"current_version", "target_version", "upgrade_status", "upgrade_mode", "start_time",
              "estimated_completion", "completed_steps", "current_step", "rollback_available", "rollback_points"}
    assert design <= set(v)
    assert (v["current_version"], v["target_version"], v["upgrade_status"]) == ("v2.1.0", "v2.2.0", "in_progress")
    assert v["nodes"]["node1"] == {"version_before": "v2.1.0", "current_version": "v2.1.0",
                                   "target_version": "v2.2.0"}
    assert {"step_id", "description", "status", "duration"} <= set(v["completed_steps"][-1])
    assert v["completed_steps"][-1]["duration"] == "20s"
    c = v["current_step"]
    assert (c["step"], c["node"], c["status"], c["elapsed_time"], c["progress"]) == (
        "stop_services", "node1", "running", "5s", "25%")  # 5 s of its 20 s
    # what is left: every hop step but upload_package (20 s a wave), less the 5 s stop_services ran
    units, _total, overhead = r.estimates([hop], exclude=j.data["run_id"])
    left = [e.seconds for k, _h, s, e in units if k == "hop1" and s.name != "upload_package"]
    assert overhead == 1 and set(left) == {20, 40}  # 40: primary-first, two waves (the primary, then the rest)
    assert v["estimated_completion"] == iso(105 + sum(left) - 5)
    # no backup yet: nothing to roll back to, though the rollback point is named
    assert v["rollback_available"] is False
    assert v["rollback_points"] == [{"point_id": info["backup_id"], "version": "v2.1.0", "backup_status": "in_progress",
                                     "description": "full backup before 2.1.0 -> 2.2.0"}]
    for n in ("node1", "node2", "node3"):  # collect_manifest keeps each node's checked manifest
        os.makedirs(os.path.join(state_dir, "backups", info["backup_id"]), exist_ok=True)
        open(os.path.join(state_dir, "backups", info["backup_id"], n + ".json"), "w").close()
    v = r.version_state(j, now=1800000000 + 105)["version_state"]
    assert v["rollback_available"] is True and v["rollback_points"][0]["backup_status"] == "ready"
    # retention removed it later: the point says so, and there is nothing left to roll back to
    for n in ("node1", "node2", "node3"):
        j.finish("hop1", by["collect_manifest"], n, 0)
        os.unlink(os.path.join(state_dir, "backups", info["backup_id"], n + ".json"))
    v = r.version_state(j, now=1800000000 + 105)["version_state"]
    assert v["rollback_available"] is False and v["rollback_points"][0]["backup_status"] == "removed"


def test_status_shows_each_nodes_way_and_where_it_is_now(tmp_path, capsys):
    """After a two-hop run every node went 2.0.0 -> 2.2.0 and runs 2.2.0 now: version_before keeps
    where it began (status once printed v2.2.0 -> v2.2.0); a node the second hop has not finished
    yet is at the first hop's target."""
    from drupgrade.commands.upgrade import status
    from drupgrade.journal import DONE
    state_dir = str(tmp_path)
    r = runner.Runner(Ctx(Cfg(state_dir)))
    hops = [["2.0.0", "2.1.0"], ["2.1.0", "2.2.0"]]
    j = Journal.create(r.runs_dir, "run_20261202_000000", target="2.2.0", hops=hops, product="drp",
                       upgrade_mode="progressive_upgrade", started=iso(0),
                       versions_before={"node1": "2.0.0", "node2": "2.0.0", "node3": "2.0.0"})
    post = [s for s in r.steps() if s.phase == steps.phase_names()[-1]]
    for i, hop in enumerate(hops, 1):
        j.hop_info("hop%d" % i, *hop)
        for s in post:
            for n in ("node1", "node2", "node3"):
                if (i, n) != (2, "node3"):
                    j.finish("hop%d" % i, s, n, 0)
    nodes = r.version_state(j)["version_state"]["nodes"]
    assert nodes["node1"] == {"version_before": "v2.0.0", "current_version": "v2.2.0", "target_version": "v2.2.0"}
    for s in post:
        j.finish("hop2", s, "node3", 0)
    j.set(status=DONE)
    with open(os.path.join(state_dir, "current_run.json"), "w") as f:
        json.dump({"run_id": j.data["run_id"], "journal": j.path}, f)
    ctx = Ctx(Cfg(state_dir))
    ctx.json = False
    status.run(ctx)
    out = capsys.readouterr().out
    for n in ("node1", "node2", "node3"):
        assert "  %-10s v2.0.0 -> v2.2.0  now v2.2.0\n" % n in out
    i18n.set_lang("zh")
    status.run(ctx)
    assert "  node1      v2.0.0 -> v2.2.0  当前 v2.2.0\n" in capsys.readouterr().out
    ctx.json = True
    status.run(ctx)
    assert json.loads(capsys.readouterr().out)["version_state"]["nodes"]["node2"]["version_before"] == "v2.0.0"


def test_a_rolled_hops_waves_count_only_the_steps_that_run_in_them():
    """A first step (the expand half) runs in the first wave only, a last one in the last: the run's
    estimate counts each once, not once per wave."""
    first, each, last = step("db_migrate"), step("install"), step("db_contract")
    first.rolling, last.rolling = "first", "last"
    hops = [("2.2.0", "2.3.0")] * 3
    got = estimates.units([first, each, last], hops, steps.once_per_run, [[1, 3], [2, 3], [3, 3]])
    assert [(k, s.name) for k, _h, s in got] == [("hop1", "db_migrate"), ("hop1", "install"), ("hop2", "install"),
                                                ("hop3", "install"), ("hop3", "db_contract")]
    assert len(estimates.units([first, each, last], hops, steps.once_per_run)) == 9  # a hop that does not roll
