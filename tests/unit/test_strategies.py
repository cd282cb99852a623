"""drupgrade.strategies and drupgrade.templates: strategy selection per hop (the most specific
wins; a tie or no match is exit 2 naming the hop and the candidates), template inheritance and
${param} substitution, typed parameters, and every product's data checked (upgrade.sh strategies
--check)."""
import json
import os
import subprocess
import sys

import pytest

from drupgrade import configmap, product, strategies, templates
from drupgrade.errors import EXIT_USAGE, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = strategies.engine_steps(TOP)
PRODUCT = {"name": "toy", "label": "toy", "label_zh": "玩具", "version_file": "/opt/toy/VERSION",
           "package": "toy-{version}.tar.gz", "start_command": "systemctl start toy.target",
           "roles": {"web": {"min": 1}}, "steps": {"stop_services": {"roles": ["web"]}},
           "parameters": {"unit": "toy-web.service", "units": ["toy-web.service", "toy.target"]}}
MATRIX = {"versions": ["1.0.0", "1.1.0", "2.0.0"],
          "version_compatibility": {"1.0.0": {"supported_targets": ["1.1.0", "2.0.0"],
                                              "direct_upgrade": ["1.1.0", "2.0.0"], "progressive_upgrade": []},
                                    "1.1.0": {"supported_targets": ["2.0.0"], "direct_upgrade": ["2.0.0"],
                                              "progressive_upgrade": []}}}
STOP = {"step": "stop_services", "component": "service/systemd",
        "config": {"action": "stop", "units": "${product.unit}"}}


def strategy(sid, src, dst, plan=None):
    return {"upgrade_strategy": {"strategy_id": sid, "name": sid, "applicable_versions": {
        "source_range": list(src), "target_range": list(dst)},
        "execution_plan": plan if plan is not None else [{"phase": "backup", "components": [STOP]}]}}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return path


def make(tmp_path, found, tpls=(), generic=()):
    """A product toy under tmp_path with the strategies `found` and templates; its Catalog."""
    root = tmp_path / "products"
    write(str(root / "toy" / "product.json"), PRODUCT)
    write(str(root / "toy" / "version_matrix.json"), MATRIX)
    for s in found:
        write(str(root / "toy" / "strategies" / (s["upgrade_strategy"]["strategy_id"] + ".json")), s)
    for t in tpls:
        write(str(root / "toy" / "templates" / (t["template_id"] + ".json")), t)
    gdir = tmp_path / "generic"
    gdir.mkdir(exist_ok=True)
    for t in generic:
        write(str(gdir / (t["template_id"] + ".json")), t)
    prod = product.Product("toy", str(root))
    return strategies.Catalog(prod, STEPS, generic_dir=str(gdir))


def usage_error(fn, *args):
    with pytest.raises(DrupgradeError) as exc:
        fn(*args)
    assert exc.value.code == EXIT_USAGE
    return exc.value


# -- selection ----------------------------------------------------------------------------------
def test_the_most_specific_strategy_wins(tmp_path):
    cat = make(tmp_path, [strategy("wide", ("1.0.0", "9.9.9"), ("1.0.0", "9.9.9")),
                          strategy("to_two", ("1.0.0", "1.9.9"), ("2.0.0", "2.9.9")),
                          strategy("exact", ("1.1.0", "1.1.0"), ("2.0.0", "2.0.0"))])
    assert cat.select("1.0.0", "1.1.0").id == "wide"
    assert cat.select("1.0.0", "2.0.0").id == "to_two"
    assert cat.select("1.1.0", "2.0.0").id == "exact"


def test_a_tie_is_exit_2_naming_the_hop_and_the_candidates(tmp_path):
    cat = make(tmp_path, [strategy("a", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9")),
                          strategy("b", ("1.0.0", "1.5.0"), ("1.0.0", "9.9.9"))])  # overlapping, neither inside
    e = usage_error(cat.select, "1.0.0", "2.0.0")
    assert "v1.0.0 -> v2.0.0" in e.message and "a (a.json" in e.message and "b (b.json" in e.message
    cat = make(tmp_path / "same", [strategy("c", ("1.0.0", "1.9.9"), ("2.0.0", "2.9.9")),
                                   strategy("d", ("1.0.0", "1.9.9"), ("2.0.0", "2.9.9"))])
    e = usage_error(cat.select, "1.1.0", "2.0.0")
    assert "c (" in e.message and "d (" in e.message


def test_no_match_is_exit_2_naming_the_hop_and_the_known_strategies(tmp_path):
    cat = make(tmp_path, [strategy("one", ("1.0.0", "1.0.0"), ("1.1.0", "1.1.0"))])
    e = usage_error(cat.select, "1.1.0", "2.0.0")
    assert "v1.1.0 -> v2.0.0" in e.message and "one (one.json, source 1.0.0..1.0.0" in e.hint


def test_the_product_gives_each_step_its_roles_and_they_are_checked(tmp_path):
    cat = make(tmp_path, [])
    assert cat.product.step_roles == {"stop_services": ["web"]}
    bad = dict(PRODUCT, steps={"stop_services": {"roles": ["db"]}})
    write(str(tmp_path / "bad" / "products" / "toy" / "product.json"), bad)
    e = usage_error(strategies.Catalog, product.Product("toy", str(tmp_path / "bad" / "products")), STEPS)
    assert "product.json: /steps/stop_services/roles" in e.message and "'db'" in e.message
    bad = dict(PRODUCT, steps={"no_such": {"roles": ["web"]}})
    write(str(tmp_path / "bad2" / "products" / "toy" / "product.json"), bad)
    e = usage_error(strategies.Catalog, product.Product("toy", str(tmp_path / "bad2" / "products")), STEPS)
    assert "/steps/no_such" in e.message and "no node step no_such" in e.message


def test_a_range_upside_down_names_the_file_and_the_path(tmp_path):
    e = usage_error(make, tmp_path, [strategy("x", ("2.0.0", "1.0.0"), ("1.0.0", "2.0.0"))])
    assert "x.json" in e.message and "/upgrade_strategy/applicable_versions/source_range" in e.message


# -- bindings -----------------------------------------------------------------------------------
def test_a_component_entry_binds_its_step_with_product_parameters(tmp_path):
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"))])
    b = cat.bindings(cat.select("1.0.0", "1.1.0"), "1.0.0", "1.1.0")
    assert list(b) == ["stop_services"]
    assert b["stop_services"].env() == {"DR_B_STOP_SERVICES_COMPONENT": "service/systemd",
                                        "DR_B_STOP_SERVICES_P_ACTION": "stop",
                                        "DR_B_STOP_SERVICES_P_UNITS": "toy-web.service"}


def test_the_rollback_phase_gives_rollback_tool_its_bindings_of_the_backups_hop(tmp_path):
    """A strategy fills rollback_tool's steps in its phase rollback: for a backup of the hop src -> dst
    (${source_version}: the version the backup holds); a strategy that fills none is exit 2."""
    rb_stop = {"step": "rollback_stop", "component": "service/systemd",
               "config": {"action": "stop", "units": "${product.units}", "match": ["toy-*.service", "toy.target"]}}
    rb_verify = {"step": "rollback_verify", "component": "service/restore",
                 "config": {"action": "verify", "check_health": "web: http http://x/health version=${source_version}"}}
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"), plan=[
        {"phase": "backup", "components": [STOP]}, {"phase": "rollback", "components": [rb_stop, rb_verify]}])])
    s, found = strategies.rollback_bindings(cat, "1.0.0", "1.1.0")
    assert s.id == "s" and sorted(found) == ["rollback_stop", "rollback_verify"]
    assert found["rollback_stop"].env() == {
        "DR_B_ROLLBACK_STOP_COMPONENT": "service/systemd", "DR_B_ROLLBACK_STOP_P_ACTION": "stop",
        "DR_B_ROLLBACK_STOP_P_UNITS": "toy-web.service toy.target",
        "DR_B_ROLLBACK_STOP_P_MATCH": "toy-*.service toy.target"}
    assert found["rollback_verify"].params["check_health"] == "web: http http://x/health version=1.0.0"
    assert cat.bindings(s, "1.0.0", "1.1.0")["stop_services"].phase == "backup"  # the run's own stay apart
    cat = make(tmp_path / "other", [strategy("bare", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"))])
    e = usage_error(strategies.rollback_bindings, cat, "1.0.0", "1.1.0")
    assert "bare" in e.message and "fills no rollback step" in e.message and "v1.0.0 -> v1.1.0" in e.message


def test_drp_rolls_back_with_its_backups_hop_and_stops_every_unit_of_its_name():
    """drp's data: the rollback of a backup made by 2.1.0 -> 2.2.0 restores 2.1.0 with the generic
    components, every drp unit stopped and removed by name, whatever version added it."""
    s, found = strategies.for_rollback("drp", TOP, "2.1.0", "2.2.0")
    assert s.id == "drp_to_v2"
    assert {k: b.component for k, b in found.items()} == {
        "rollback_stop": "service/systemd", "rollback_db": "service/mariadb", "rollback_program": "service/restore",
        "rollback_config": "service/restore", "rollback_start": "service/restore", "rollback_verify": "service/restore"}
    assert found["rollback_stop"].params["units"][0] == "drp-app.service"  # the product.json order
    assert found["rollback_stop"].params["match"] == found["rollback_config"].params["unit_match"] == [
        "drp-*.service", "drp.target"]
    assert found["rollback_db"].params["action"] == "recover"
    assert "version=2.1.0" in found["rollback_verify"].params["check_health"]
    _s, bound = strategies.for_hop("drp", TOP, "2.1.0", "2.2.0")
    assert bound["delete_services"].params["match"] == ["drp-*.service", "drp.target"]
    assert bound["unzip"].params["unit_match"] == ["drp-*.service", "drp.target"]
    assert bound["backup_local"].component == "service/backup"


@pytest.mark.parametrize("entry, phase, where, what", [
    (dict(STOP, step="no_such_step"), "backup", "/upgrade_strategy/execution_plan/0/components/0", "no node step"),
    (dict(STOP, step="start_services"), "backup", "/components/0", "no node step start_services in the phase backup"),
    (dict(STOP, step="precheck"), "precheck", "/execution_plan/0/phase", "phases run per hop"),
    (dict(STOP, component="service/nope"), "backup", "/components/0", "unknown component service/nope"),
    (dict(STOP, timeout=99999), "backup", "/components/0", "above the engine's"),
    (dict(STOP, config={"units": "${product.nope}"}), "backup", "/components/0/config/units", "${product.nope}"),
])
def test_bad_entries_name_file_path_and_expected(tmp_path, entry, phase, where, what):
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"),
                                   [{"phase": phase, "components": [entry]}])])
    e = usage_error(cat.bindings, cat.strategies[0], "1.0.0", "1.1.0")
    assert "s.json" in e.message and where in e.message and what in e.message


def test_a_step_filled_twice_is_refused(tmp_path):
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"),
                                   [{"phase": "backup", "components": [STOP, STOP]}])])
    assert "filled twice" in usage_error(cat.bindings, cat.strategies[0], "1.0.0", "1.1.0").message


def test_a_schema_problem_is_exit_2_with_file_path_and_expected_value(tmp_path):
    bad = strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"))
    bad["upgrade_strategy"]["applicable_versions"]["source_range"] = ["1.0", "1.9.9"]
    e = usage_error(make, tmp_path, [bad])
    assert "s.json" in e.message and "/upgrade_strategy/applicable_versions/source_range/0" in e.message
    assert "'1.0'" in e.message and "must match" in e.message


# -- templates: inheritance, typed parameters, substitution ---------------------------------------
BASE = {"template_id": "base_stop", "template_version": "1.0.0", "template_type": "service_upgrade",
        "description": "stop, then delete",
        "parameters": {"units": {"type": "array", "required": True},
                       "unit_dir": {"type": "string", "default": "/etc/systemd/system"},
                       "wait": {"type": "integer", "default": 30}},
        "execution_steps": [
            {"step_name": "stop_services", "component": "service/systemd",
             "parameters": {"action": "stop", "units": "${units}"}, "timeout": 60},
            {"step_name": "delete_services", "component": "service/systemd",
             "parameters": {"action": "remove", "units": "${units}", "unit_dir": "${unit_dir}",
                            "note": "v${source_version} to v${target_version}, ${wait} s"}}]}
CHILD = {"template_id": "child", "template_version": "1.0.0", "extends": "base_stop", "description": "no delete",
         "parameters": {"units": {"type": "array", "default": ["${product.units}"]}},
         "execution_steps": [{"step_name": "delete_services", "remove": True},
                             {"step_name": "stop_services", "timeout": 90}]}


def uses(tid, params=None):
    entry = {"template": tid}
    if params is not None:
        entry["parameters"] = params
    return strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"), [{"phase": "backup", "components": [entry]}])


def test_substitution_keeps_types_and_joins_inside_text(tmp_path):
    cat = make(tmp_path, [uses("base_stop", {"units": ["a.service", "b.service"], "wait": 5})], generic=[BASE])
    b = cat.bindings(cat.strategies[0], "1.0.0", "1.1.0")
    assert b["stop_services"].params == {"action": "stop", "units": ["a.service", "b.service"]}
    assert b["stop_services"].timeout == 60 and b["stop_services"].template == "base_stop"
    assert b["delete_services"].params["unit_dir"] == "/etc/systemd/system"  # the default
    assert b["delete_services"].params["note"] == "v1.0.0 to v1.1.0, 5 s"
    assert b["delete_services"].env()["DR_B_DELETE_SERVICES_P_UNITS"] == "a.service b.service"


def test_a_child_template_overrides_parameters_and_steps_and_removes_one(tmp_path):
    cat = make(tmp_path, [uses("child")], tpls=[CHILD], generic=[BASE])
    r = cat.library.resolve("child")
    assert r["type"] == "service_upgrade"  # inherited
    assert [s["step_name"] for s in r["steps"]] == ["stop_services"]
    assert r["steps"][0]["timeout"] == 90 and r["steps"][0]["component"] == "service/systemd"
    b = cat.bindings(cat.strategies[0], "1.0.0", "1.1.0")
    assert list(b) == ["stop_services"]
    assert b["stop_services"].params["units"] == ["toy-web.service", "toy.target"]  # default from the product


@pytest.mark.parametrize("params, what", [
    ({}, "needs the parameter units"),
    ({"units": "a.service"}, "expected a value of type array"),
    ({"units": ["a"], "wait": "5"}, "expected a value of type integer"),
    ({"units": ["a"], "colour": "red"}, "has no parameter colour"),
])
def test_template_parameters_are_typed_and_checked(tmp_path, params, what):
    cat = make(tmp_path, [uses("base_stop", params)], generic=[BASE])
    e = usage_error(cat.bindings, cat.strategies[0], "1.0.0", "1.1.0")
    assert what in e.message and "s.json" in e.message


def test_inheritance_cycles_and_unknown_parents_are_refused(tmp_path):
    a = dict(CHILD, template_id="a", extends="b")
    b = dict(CHILD, template_id="b", extends="a")
    cat = make(tmp_path, [], tpls=[a, b])
    assert "cycle: a -> b -> a" in usage_error(cat.library.resolve, "a").message
    cat = make(tmp_path / "x", [], tpls=[dict(CHILD, extends="nope")])
    e = usage_error(cat.library.resolve, "child")
    assert "unknown template nope" in e.message and "/extends" in e.message


def test_a_template_id_defined_twice_is_refused(tmp_path):
    e = usage_error(make, tmp_path, [], [dict(BASE)], [BASE])
    assert "template base_stop is also defined in" in e.message


def test_substitute_refuses_unknown_references():
    e = usage_error(templates.substitute, "x ${nope}", {"a": 1}, "f.json", "/w")
    assert "f.json: /w" in e.message and "${nope}" in e.message


# -- every product's data ----------------------------------------------------------------------
def test_every_product_template_and_strategy_is_valid_and_every_hop_resolves():
    found = strategies.check(STEPS)
    drp = [(s, d, sid) for p, s, d, sid in found if p == "drp"]
    matrix = product.load("drp").matrix()
    assert sorted((s, d) for s, d, _i in drp) == sorted((s, d) for s in matrix.rows for d in matrix.direct(s))
    assert ("1.0.0", "1.5.0", "drp_v1_minor") in drp and ("1.0.0", "2.2.0", "drp_to_v2") in drp


def test_every_generic_template_is_one_of_the_five_types():
    lib = templates.Library()
    kinds = {lib.resolve(t)["type"] for t in lib.ids()}
    assert kinds == set(templates.TYPES)


def test_a_config_mapping_step_gets_its_mapping_checked_and_the_node_path_of_the_mapped_file(tmp_path):
    entry = {"step": "config_pre", "component": "service/config",
             "config": {"file": "/etc/toy/app.ini", "target": "/etc/toy/app.json",
                        "mapping": "config/ini-to-json.json"}}
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"),
                                   [{"phase": "upgrade", "components": [entry]}])])
    e = usage_error(cat.bindings, cat.strategies[0], "1.0.0", "1.1.0")
    assert "ini-to-json.json" in e.message  # the mapping file is missing
    write(os.path.join(cat.product.dir, "config", "ini-to-json.json"),
          {"source": {"format": "ini"}, "target": {"format": "json"}, "rename": {"a.b": "a.c"}})
    os.chmod(os.path.join(cat.product.dir, "config", "ini-to-json.json"), 0o600)
    b = cat.bindings(cat.strategies[0], "1.0.0", "1.1.0")["config_pre"]
    assert b.params["mapped"] == "/var/lib/drupgrade/work/toy-1.1.0.config/config_pre-app.json"
    assert [m["rename"] for m in b.mapping] == [{"a.b": "a.c"}]


def test_a_config_step_chains_mapping_files_with_the_hops_references_and_checks_their_formats(tmp_path):
    entry = {"step": "config_pre", "component": "service/config",
             "config": {"file": "/etc/toy/app.env", "mapping": ["config/a.json", "config/b.json"]}}
    cat = make(tmp_path, [strategy("s", ("1.0.0", "1.9.9"), ("1.0.0", "2.9.9"),
                                   [{"phase": "upgrade", "components": [entry]}])])
    for name, data in (("a", {"source": {"format": "env"}, "target": {"format": "env"}, "rename": {"A": "B"}}),
                       ("b", {"source": {"format": "env"},
                              "target": {"format": "env", "header": "# toy ${target_version}"},
                              "set": {"V": "${target_version}"}, "defaults": {"D": "${product.unit}"}})):
        os.chmod(write(os.path.join(cat.product.dir, "config", name + ".json"), data), 0o600)
    b = cat.bindings(cat.strategies[0], "1.0.0", "1.1.0")["config_pre"]
    assert b.env()["DR_B_CONFIG_PRE_P_MAPPING"] == "config/a.json config/b.json"
    assert configmap.convert("A=1\n", b.mapping) == "# toy 1.1.0\nB=1\nV=1.1.0\nD=toy-web.service\n"
    os.chmod(write(os.path.join(cat.product.dir, "config", "b.json"),
                   {"source": {"format": "ini"}, "target": {"format": "env"}}), 0o600)
    e = usage_error(cat.bindings, cat.strategies[0], "1.0.0", "1.1.0")
    assert "b.json: /source/format" in e.message and "expected env" in e.message


# -- the commands -------------------------------------------------------------------------------
def run_cli(*args, config):
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    env.pop("LC_ALL", None)
    return subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", "en", "--config", config]
                          + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def test_products_lists_the_products_and_marks_the_configured_one(tmp_path):
    r = run_cli("--json", "products", config=example_config(tmp_path))
    drp = [p for p in json.loads(r.stdout)["products"] if p["name"] == "drp"][0]
    assert r.returncode == 0 and drp["configured"] and drp["versions"][0] == "v1.0.0"
    assert "drp_to_v2" in drp["strategies"] and "db_primary" in drp["roles"]


def test_strategies_check_resolves_every_hop_and_strategies_shows_ranges(tmp_path):
    cfg = example_config(tmp_path)
    r = run_cli("strategies", "--check", config=cfg)
    assert r.returncode == 0 and "drp        v1.0.0    -> v2.2.0    drp_to_v2" in r.stdout
    r = run_cli("--json", "strategies", config=cfg)
    rows = {s["strategy_id"]: s for s in json.loads(r.stdout)["strategies"]}
    assert rows["drp_v1_minor"]["target_range"] == ["v1.0.0", "v1.9.9"]
    assert rows["drp_to_v2"]["phases"] == ["backup", "upgrade", "postcheck", "rollback"]


def test_an_unknown_product_is_exit_2_naming_the_known_ones(tmp_path):
    cfg = example_config(tmp_path, "nothere")
    r = run_cli("strategies", config=cfg)
    assert r.returncode == 2 and "unknown product nothere" in r.stderr and "drp" in r.stderr


def example_config(tmp_path, product="drp"):
    """conf/upgrade.ini.example, its [product] name set."""
    text = open(os.path.join(TOP, "conf", "upgrade.ini.example"), encoding="utf-8").read()
    assert "\nname = drp\n" in text
    path = tmp_path / "upgrade.ini"
    path.write_text(text.replace("\nname = drp\n", "\nname = %s\n" % product), encoding="utf-8")
    path.chmod(0o600)
    return str(path)


# -- drp 2.3.0, added as data (products/drp/: matrix, strategies, templates, config mappings) ----
INTO_2_3_0 = {"1.0.0": "drp_v1_to_v2_3", "1.5.0": "drp_v1_to_v2_3", "2.0.0": "drp_v2_to_v2_3",
              "2.1.0": "drp_v2_to_v2_3", "2.2.0": "drp_v2_2_to_v2_3_rolling"}


def test_strategies_check_resolves_every_hop_into_2_3_0_to_its_strategy(tmp_path):
    r = run_cli("strategies", "--check", config=example_config(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("drp ")]
    assert {src[1:]: sid for _p, src, _a, dst, sid in rows if dst == "v2.3.0"} == INTO_2_3_0
    m = product.load("drp").matrix()
    assert m.direct("2.2.0") == ["2.3.0"] and all("2.3.0" in m.direct(v) for v in INTO_2_3_0)


def test_the_2_3_0_strategies_map_the_config_start_and_check_drp_events_and_remove_its_unit():
    for src, sid in sorted(INTO_2_3_0.items()):
        if sid.endswith("_rolling"):
            continue  # its services and database: the next test
        s, b = strategies.for_hop("drp", TOP, src, "2.3.0")
        assert s.id == sid
        pre = b["config_pre"]
        assert pre.component == "service/config" and pre.params["target"] == "/etc/drp/drp.json"
        fmt = "ini" if src < "2" else "json"
        assert (pre.params["file"], pre.params["mapping"]) == ("/etc/drp/drp." + fmt, "config/%s.x-2.3.0.json" % src[0])
        assert b["config_post"].params["run"] == "/opt/drp/bin/drp-config-upgrade --phase post"
        assert b["start_services"].params["units"] == ["drp.target", "drp-events.service", "drp-app.service"]
        checks = b["check_services"].params
        assert checks["check_events"] == "app: unit drp-events.service"
        assert checks["check_events_health"] == "app: http http://127.0.0.1:8091/health status=ok version=2.3.0"
        assert checks["check_health"].endswith("version=2.3.0 events=ok") and "check_replication" in checks
        units = b["delete_services"].params["units"]  # stopped and removed in this order
        assert units[:2] == ["drp-app.service", "drp-events.service"] and b["unzip"].params["units"] == units
        assert b["backup_local"].component == "service/backup"  # the backup and the rollback from it
        assert b["rollback_stop"].params["units"] == units and b["rollback_db"].template == "drp_db_recover"
        assert "create_service_db" in b and b["db_migrate"].params["run"] == "/opt/drp/bin/drp-migrate --kind schema"
        assert b["db_migrate"].params["records"] == "/opt/drp/bin/drp-dbtool checksum"
        assert b["init_sdba"].component == "business/permissions"


def test_the_rolling_2_3_0_strategy_keeps_the_database_serving_and_splits_its_migration():
    """Issue 20: 2.2.0 -> 2.3.0 rolls (2.2.0 and 2.3.0 run side by side). The database is never
    stopped, re-created or imported; its expand half runs from the unpacked package before any node
    moves, its contract half once every node runs 2.3.0; a node's own units only are stopped and
    replaced."""
    s, b = strategies.for_hop("drp", TOP, "2.2.0", "2.3.0")
    assert s.id == "drp_v2_2_to_v2_3_rolling" and s.rolling
    assert not {"stop_db", "start_db", "init_sdba", "import_db", "create_service_db", "db_data_upgrade"} & set(b)
    assert b["db_migrate"].params["run"] == (
        "/var/lib/drupgrade/work/drp-2.3.0/bin/drp-migrate --kind schema --online expand")
    assert b["db_contract"].params["run"] == "/opt/drp/bin/drp-migrate --kind schema --online contract"
    assert b["backup_db"].params["action"] == "dump"
    assert b["stop_services"].params["units"] == ["drp-app.service", "drp-kmc.service"]
    assert b["delete_services"].params["units"] == ["drp-app.service", "drp-kmc.service", "drp-events.service"]
    assert b["install"].params["data_roles"] == []  # no fresh database directory
    assert b["start_services"].params["units"] == ["drp-kmc.service", "drp.target", "drp-events.service",
                                                   "drp-app.service"]


DRP_2_2_0 = {"product_version": "2.2.0", "cluster": {"name": "lab"},
             "node": {"name": "node2", "address": "10.0.0.12", "roles": ["db_replica", "etcd", "app"]},
             "database": {"primary": {"host": "10.0.0.11", "port": 3306}, "name": "drp", "server_id": 2,
                          "users": {"app": {"name": "drp_app", "password": "a"},
                                    "replication": {"name": "drp_repl", "password": "r"},
                                    "sdba": {"name": "sdba", "password": "s"}}},
             "etcd": {"name": "node2", "endpoints": ["http://10.0.0.12:2379", "http://10.0.0.11:2379"],
                      "initial_cluster": "node1=http://10.0.0.11:2380,node2=http://10.0.0.12:2380"},
             "kmc": {"url": "http://10.0.0.11:8700", "token": "t", "key_file": "/etc/drp/kmc/data.key", "bind": [],
                     "cipher": "hmac-sha256-ctr-v1"},
             "app": {"port": 8080, "data_dir": "/var/lib/drp/data", "heartbeat_interval": 10, "max_threads": 16,
                     "health_timeout": 3},
             "audit": {"database": "drp_audit", "enabled": True}}
# The same node's 1.0.0 drp.ini, as drp 1.0.0 writes it.
DRP_1_0_0 = """[app]
data_dir = /var/lib/drp/data
port = 8080

[database]
app_password = a
app_user = drp_app
host = 10.0.0.11
name = drp
port = 3306
repl_password = r
repl_user = drp_repl
sdba_password = s
sdba_user = sdba
server_id = 2

[etcd]
endpoints = http://10.0.0.12:2379,http://10.0.0.11:2379
initial_cluster = node1=http://10.0.0.11:2380,node2=http://10.0.0.12:2380
name = node2

[kmc]
bind =
key_file = /etc/drp/kmc/data.key
token = t
url = http://10.0.0.11:8700

[meta]
version = 1.0.0

[node]
address = 10.0.0.12
name = node2
roles = db_replica,etcd,app

[cluster]
name = lab
"""


def test_the_2_3_0_config_mappings_give_the_config_a_fresh_2_3_0_node_has():
    """kmc.url renamed kmc.endpoint, app.max_threads removed, events.* added; from 1.x also the INI
    turned into drp.json with every release's keys. Only product_version is left to the product's
    drp-config-upgrade --phase post (with /drp/config/version on etcd)."""
    fresh = json.loads(json.dumps(DRP_2_2_0))
    fresh["kmc"]["endpoint"] = fresh["kmc"].pop("url")
    del fresh["app"]["max_threads"]
    fresh["events"] = {"port": 8091, "keep": 500}
    for mapping, text, version in (("1.x-2.3.0.json", DRP_1_0_0, "1.0.0"),
                                   ("2.x-2.3.0.json", json.dumps(DRP_2_2_0), "2.2.0")):
        m = configmap.load(os.path.join(TOP, "products", "drp", "config", mapping))
        got = json.loads(configmap.convert(text, m))
        assert got == dict(fresh, product_version=version), mapping
    assert json.loads(configmap.convert(json.dumps(got), m)) == got  # a 2.x file mapped twice: the same
