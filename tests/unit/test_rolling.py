"""drupgrade.rolling: the waves of a rolling hop, why a hop does not roll, the plan split into waves."""
from drupgrade import mixed, rolling

DRP = {"node1": ["db_primary", "etcd", "kmc", "app"], "node2": ["db_replica", "etcd", "kmc", "app"],
       "node3": ["etcd", "app"]}
RULE = rolling.Rule({"serving_role": "app", "max_unavailable": 1, "last_roles": ["db_primary"]})
SKEW = mixed.SkewRule({"side_by_side": [["v2.2.0", "v2.3.0"]]}, "product.json version_skew")


class Strategy:
    def __init__(self, rolls):
        self.id, self.rolling = "s", rolls


def test_the_db_primary_goes_last_and_one_serving_node_at_a_time():
    assert RULE.waves(DRP) == [["node2"], ["node3"], ["node1"]]
    five = dict(DRP, node4=["app"], node5=["app"], gw=["gateway"])
    assert rolling.Rule({"serving_role": "app", "max_unavailable": 2, "last_roles": ["db_primary"]}).waves(five) == [
        ["gw", "node2", "node3"], ["node4", "node5"], ["node1"]]


def test_a_hop_rolls_only_when_every_condition_holds_and_says_why_not():
    hop = ("2.2.0", "2.3.0")
    assert rolling.why_not(RULE, Strategy(True), hop, DRP, SKEW, []) is None
    assert "does not roll" in rolling.why_not(RULE, Strategy(False), hop, DRP, SKEW, [])
    assert "no rolling rule" in rolling.why_not(rolling.Rule(None), Strategy(True), hop, DRP, SKEW, [])
    assert "side by side" in rolling.why_not(RULE, Strategy(True), ("2.1.0", "2.3.0"), DRP, SKEW, [])
    assert rolling.why_not(RULE, Strategy(True), hop, DRP, SKEW, ["0006_2.3.0_schema_job_events"]) == (
        "its database migrations are not split into expand and contract: 0006_2.3.0_schema_job_events")
    assert rolling.why_not(RULE, Strategy(True), hop, {"node1": DRP["node1"]}, SKEW, []) == (
        "too few nodes: 1 node(s) serve (app) and the roll takes 1 at a time, so none would stay up")


def test_a_rolled_hop_becomes_one_hop_per_wave_and_the_journal_names_their_nodes():
    found = {n: "2.2.0" for n in DRP}
    plan = mixed.ClusterPlan(found, "2.3.0", [("2.1.0", "2.2.0"), ("2.2.0", "2.3.0")], [sorted(DRP)] * 2, "progressive")
    out = rolling.roll(plan, lambda i, hop, names: RULE.waves({n: DRP[n] for n in names}) if i == 1 else None)
    assert out.hops == [("2.1.0", "2.2.0")] + [("2.2.0", "2.3.0")] * 3
    assert out.waves == [None, [1, 3], [2, 3], [3, 3]]
    assert out.journal_nodes() == {"hop1": ["node1", "node2", "node3"], "hop2": ["node2"], "hop3": ["node3"],
                                   "hop4": ["node1"]}
    assert rolling.journal_waves(out) == {"hop2": [1, 3], "hop3": [2, 3], "hop4": [3, 3]}
    assert rolling.journal_waves(rolling.roll(plan, lambda i, hop, names: None)) is None
    assert [sorted(s.values()) for s in out.states()][2] == ["2.2.0", "2.2.0", "2.3.0"]  # the mix after a wave
    SKEW.check(out)  # every mix between the waves is one the rule allows


def test_the_migrations_a_rolling_hop_cannot_run_are_read_from_the_package_names(tmp_path):
    import io
    import json
    import os
    import tarfile
    hints = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "products", "drp",
                                        "generator.json")))["migrations"]
    pkg = tmp_path / "drp-2.3.0.tar.gz"
    with tarfile.open(str(pkg), "w:gz") as tar:
        for name in ("0005_2.2.0_data_rewrite_names_states.sql", "0006_2.3.0_schema_expand_job_events.sql",
                     "0007_2.3.0_schema_contract_job_events.sql", "0008_2.3.0_data_fill_hosts.sql",
                     "rollback/0006_2.3.0_schema_expand_job_events.sql", "README"):
            data = b"-- x\n"
            info = tarfile.TarInfo("drp-2.3.0/share/migrations/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    found = rolling.package_migrations(str(pkg), hints)
    assert [f[2] for f in found] == [None, "expand", "contract", None]
    assert rolling.unsplit(found, "2.2.0", "2.3.0") == ["0008_2.3.0_data_fill_hosts"]
    assert rolling.unsplit(found, "2.1.0", "2.3.0") == ["0005_2.2.0_data_rewrite_names_states",
                                                       "0008_2.3.0_data_fill_hosts"]


def test_the_path_counts_a_rolled_hop_once():
    assert rolling.path([("2.2.0", "2.3.0")] * 3) == ["v2.2.0", "v2.3.0"]
    assert rolling.path([("2.1.0", "2.2.0"), ("2.2.0", "2.3.0"), ("2.2.0", "2.3.0")]) == ["v2.1.0", "v2.2.0", "v2.3.0"]
    assert rolling.path([]) == []


def test_the_downtime_a_hop_expects_per_node_and_for_the_cluster():
    """A node is down from its first stop_* step to its last start_* step, every step between taking
    its time; the cluster while every serving node is down."""
    together = [("stop_services", 1, ["a", "b"]), ("backup_db", 5, ["a"]), ("install", 3, ["a", "b"]),
                ("start_services", 2, ["a", "b"]), ("check_services", 4, ["a", "b"])]
    assert rolling.downtime(together, ["a", "b"]) == (11, 11)
    assert rolling.downtime(together, ["a", "b", "c"]) == (11, 0)  # c serves throughout
    rolled = [("backup_db", 5, ["a"]), ("stop_services", 1, ["b"]), ("install", 3, ["b"]),
              ("start_services", 2, ["b"]), ("stop_services", 1, ["a"]), ("install", 3, ["a"]),
              ("start_services", 2, ["a"]), ("db_contract", 7, ["a"])]
    assert rolling.downtime(rolled, ["a", "b"]) == (6, 0)
    assert rolling.downtime([("install", 3, ["a"])], ["a"]) == (0.0, 0)  # nothing stops: nothing is down


def test_a_rolled_hops_write_pause_is_the_time_of_the_database_steps_it_runs():
    timeline = [("backup_db", 1.0, ["node1"]), ("db_migrate", 1.5, ["node1"]), ("stop_services", 3, ["node2"]),
                ("db_contract", 0.5, ["node1"]), ("import_db", 9, [])]
    assert rolling.write_pause(timeline, {"db_migrate", "db_contract", "import_db"}) == 2.0


def test_the_plan_shows_a_rolled_hop_once_with_its_waves_or_why_it_stops_its_nodes():
    from drupgrade.commands.upgrade import plan
    hops = [("2.1.0", "2.2.0")] + [("2.2.0", "2.3.0")] * 3
    assert plan.hop_groups(hops, [None, [1, 3], [2, 3], [3, 3]]) == [[0, 0], [1, 3]]
    assert plan.hop_groups([("2.2.0", "2.3.0")] * 2, [None, None]) == [[0, 0], [1, 1]]
    rolled = {"rolls": True, "waves": [["node2"], ["node3"], ["node1"]], "why_not_rolling": None,
              "downtime": {"node_s": 6.2, "cluster_s": 0, "db_write_pause_s": 2.0}}
    assert plan.rolls_text(rolled) == ("rolls node by node in 3 waves (node2 | node3 | node1); "
                                       "expected downtime: each node up to 6 s, the cluster 0 s; the database "
                                       "serves throughout, its migrations may hold writes on the primary up to 2 s")
    together = {"rolls": False, "waves": None, "why_not_rolling": "its strategy s does not roll",
                "downtime": {"node_s": 31, "cluster_s": 29}}
    assert plan.rolls_text(together) == ("stops its nodes together (its strategy s does not roll); "
                                         "expected downtime: each node up to 31 s, the cluster 29 s")
