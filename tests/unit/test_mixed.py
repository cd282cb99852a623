"""drupgrade.mixed: a mixed cluster's plan (each node's path, the order) and the version-skew rule."""
import pytest

from drupgrade import mixed, product
from drupgrade.errors import EXIT_PRECHECK, DrupgradeError


def matrix():
    return product.load("drp").matrix()


def plan(found, target="2.2.0", mode="auto"):
    return mixed.plan_cluster(matrix(), found, target, mode)


def test_a_uniform_cluster_keeps_the_matrix_path_on_every_node():
    p = plan({"node1": "1.0.0", "node2": "1.0.0"}, mode="progressive")
    assert p.kind == "progressive_upgrade" and not p.mixed and p.journal_nodes() is None
    assert all(names == ["node1", "node2"] for names in p.hop_nodes)
    assert p.hops[0] == ("1.0.0", "1.5.0") and p.hops[-1][1] == "2.2.0"


def test_laggards_catch_up_with_the_leaders_then_the_cluster_goes_on_together():
    p = plan({"node1": "2.0.0", "node2": "2.0.0", "node3": "2.1.0"})
    assert p.kind == mixed.COMBINED and p.mixed
    assert p.hops == [("2.0.0", "2.1.0"), ("2.1.0", "2.2.0")]
    assert p.hop_nodes == [["node1", "node2"], ["node1", "node2", "node3"]]
    assert p.journal_nodes() == {"hop1": ["node1", "node2"], "hop2": ["node1", "node2", "node3"]}
    d = p.as_dict()
    assert d["nodes_paths"]["node1"]["path"] == ["v2.0.0", "v2.1.0", "v2.2.0"]
    assert d["nodes_paths"]["node3"]["path"] == ["v2.1.0", "v2.2.0"]
    assert d["order"][0] == {"hop": "hop1", "from": "v2.0.0", "to": "v2.1.0", "nodes": ["node1", "node2"]}
    assert p.states()[-1] == {"node1": "2.2.0", "node2": "2.2.0", "node3": "2.2.0"}


def test_three_versions_catch_up_one_after_the_other_and_nodes_at_the_target_only_wait():
    p = plan({"node1": "1.5.0", "node2": "2.0.0", "node3": "2.2.0"})
    assert p.hops == [("1.5.0", "2.0.0"), ("2.0.0", "2.2.0")]
    assert p.hop_nodes == [["node1"], ["node1", "node2"]]
    assert p.node_paths()["node3"] == []


def test_a_node_newer_than_the_target_or_off_the_matrix_is_refused():
    with pytest.raises(DrupgradeError, match="cannot upgrade from 2.3.0 down to 2.2.0"):
        plan({"node1": "2.0.0", "node2": "2.3.0"})
    with pytest.raises(DrupgradeError, match="cannot jump"):
        plan({"node1": "1.0.0", "node2": "1.5.0"}, target="2.1.0", mode="jump")


def rule(groups):
    return mixed.SkewRule({"side_by_side": groups}, "the rule")


def test_the_skew_rule_allows_a_mix_one_group_holds():
    r = rule([["v2.0.0", "v2.1.0", "v2.2.0"], ["v2.2.0", "v2.3.0"]])
    assert r.allows(["2.0.0", "2.2.0"]) and r.allows(["2.3.0"]) and not r.allows(["2.1.0", "2.3.0"])
    assert not mixed.SkewRule(None, "none").allows(["2.0.0", "2.1.0"])  # no rule: one version only


def test_the_mix_after_every_hop_is_checked_before_the_run():
    p = plan({"node1": "1.0.0", "node2": "2.0.0"}, target="2.0.0")  # node1 catches up through 1.5.0
    assert p.hops == [("1.0.0", "1.5.0"), ("1.5.0", "2.0.0")] and p.hop_nodes == [["node1"], ["node1"]]
    assert rule([["v1.0.0", "v1.5.0", "v2.0.0"]]).check(p) == []
    with pytest.raises(DrupgradeError) as exc:  # after hop 1: 1.5.0 beside 2.0.0, forbidden: no safe order
        rule([["v1.0.0", "v2.0.0"]]).check(p)
    assert exc.value.code == EXIT_PRECHECK and "after hop 1 (1.0.0 -> 1.5.0 on node1)" in exc.value.message
    assert "1.5.0, 2.0.0 side by side" in exc.value.message


def test_a_forbidden_current_mix_is_converged_when_every_later_mix_is_allowed_else_refused():
    p = plan({"node1": "1.0.0", "node2": "2.2.0"}, target="2.3.0")  # 1.0.0 jumps to 2.2.0, then both to 2.3.0
    warnings = rule([]).check(p)
    assert len(warnings) == 1 and "node1=1.0.0, node2=2.2.0" in warnings[0]
    p = plan({"node1": "1.0.0", "node2": "1.5.0", "node3": "2.1.0"}, target="2.3.0")
    with pytest.raises(DrupgradeError, match=r"after hop 1 \(1.0.0 -> 1.5.0 on node1\) the cluster would run 1.5"):
        rule([["v2.0.0", "v2.1.0"]]).check(p)


def test_the_journal_says_which_hop_upgrades_which_node():
    data = {"hops": [["2.0.0", "2.1.0"], ["2.1.0", "2.2.0"]], "versions_before": {"node1": "2.0.0", "node3": "2.1.0"},
            "hop_nodes": {"hop1": ["node1"], "hop2": ["node1", "node3"]}}
    assert mixed.upgraded_in(data, "hop1", "node1") and not mixed.upgraded_in(data, "hop1", "node3")
    uniform = {"hops": data["hops"], "versions_before": {"node1": "2.0.0"}}
    assert mixed.upgraded_in(uniform, "hop2", "node1")


def test_the_products_skew_rules_are_data_the_schema_checks():
    assert rule(product.load("drp").data["version_skew"]["side_by_side"]).allows(["2.0.0", "2.1.0"])
    assert not rule(product.load("arc").data["version_skew"]["side_by_side"]).allows(["1.1.0", "2.0.0"])
