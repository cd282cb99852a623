"""drupgrade.compat (the compatibility checks before a hop, design §4.7.2.2) and the fallback rules of
versions.plan_path (the §4.7.1.2 flowchart), against the products' own data and fakes of the transport."""
import copy
import functools
import os
import shutil
import sqlite3
import subprocess

import pytest

from drupgrade import compat, mixed, product, strategies, versions
from drupgrade.errors import EXIT_PRECHECK, DrupgradeError
from drupgrade.transport.result import CommandResult

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KINDS = {"database_structure", "configuration", "api", "dependency", "data_format"}


@functools.lru_cache(maxsize=None)
def _loaded(name):
    return compat.load(product.load(name))


def checks_of(name):
    return {c["id"]: c for c in copy.deepcopy(_loaded(name))}


def jumps(matrix):
    """The matrix's hops that skip a version the matrix lists."""
    out = []
    for src in matrix.rows:
        for dst in matrix.direct(src):
            if any(versions.key(src) < versions.key(v) < versions.key(dst) for v in matrix.versions):
                out.append((src, dst))
    return out


@pytest.mark.parametrize("name", ["drp", "arc"])
def test_every_jump_of_the_product_has_a_check_of_each_kind_that_applies(name):
    prod = product.load(name)
    checks = compat.load(prod)
    hops = jumps(prod.matrix())
    assert hops
    # arc has no database server, etcd or key service, but a catalog, a config file, an API and
    # dependencies (SQLite, systemd, python3): every kind applies to both products.
    for hop in hops:
        assert {c["kind"] for c in checks if compat.applies(c, *hop)} == KINDS, hop
    # The product's places come from its parameters (${product.…}), never written twice.
    assert all("${" not in c.get(f, "") for c in checks for f in ("client", "file", "command"))


def test_a_bad_compat_file_is_exit_2_naming_file_and_key(tmp_path):
    root = tmp_path / "products"
    (root / "x").mkdir(parents=True)
    src = os.path.join(TOP, "products", "arc")
    for f in ("product.json", "version_matrix.json"):
        (root / "x" / f).write_text(open(os.path.join(src, f)).read().replace('"name": "arc"', '"name": "x"'))
    (root / "x" / "compat.json").write_text('{"checks": [{"id": "a", "kind": "dependency"}]}')
    with pytest.raises(DrupgradeError) as e:
        compat.load(product.Product("x", str(root)))
    assert e.value.code == 2 and "compat.json" in e.value.message


def test_strategies_check_validates_every_products_compat_file(tmp_path):
    """`upgrade.sh strategies --check` reads compat.json beside the rest of a product's data."""
    root = tmp_path / "products"
    shutil.copytree(os.path.join(TOP, "products", "arc"), str(root / "arc"))
    steps = strategies.engine_steps(TOP)
    assert strategies.check(steps, str(root))
    path = root / "arc" / "compat.json"
    path.write_text(path.read_text().replace('"kind": "api"', '"kind": "apis"', 1))
    with pytest.raises(DrupgradeError) as e:
        strategies.check(steps, str(root))
    assert e.value.code == 2 and "compat.json" in e.value.message and "kind" in e.value.message


# -- the comparisons ---------------------------------------------------------------------------
def rows_of(tables):
    """Catalog rows as the mariadb dialect prints them, from {table: (columns, indexes)}."""
    rows = []
    for t, (cols, idx) in tables.items():
        rows += [["C", t, c, d] for c, d in cols.items()]
        rows += [["I", t, i, ",".join(c)] for i, c in idx.items()]
    return rows


def released(check):
    return {t: (dict(w["columns"]), dict(w.get("indexes", {}))) for t, w in check["tables"].items()}


def test_structure_exactly_as_released_passes_and_each_drift_is_named():
    jump = checks_of("drp")["drp_schema_1_0_0_jump"]
    live = released(jump)
    assert compat.compare_structure(jump, rows_of(live)) == []
    extra = copy.deepcopy(live)
    extra["jobs"][0]["priority"] = "tinyint(4) NOT NULL"
    assert compat.compare_structure(jump, rows_of(extra)) == [
        "column jobs.priority (tinyint(4) NOT NULL) is not part of this version's schema"]
    changed = copy.deepcopy(live)
    changed["jobs"][0]["host"] = "varchar(128) NOT NULL"
    changed["jobs"][1]["idx_host"] = ["host"]
    del changed["settings"][1]["PRIMARY"]
    del changed["secrets"]
    assert compat.compare_structure(jump, rows_of(changed)) == [
        "column jobs.host is varchar(128) NOT NULL, expected varchar(64) NOT NULL",
        "index jobs.idx_host (host) is not part of this version's schema",
        "table secrets is missing",
        "index settings.PRIMARY is missing"]


def test_the_first_progressive_hop_tolerates_the_backported_column_of_its_own_definition_only():
    hop = checks_of("drp")["drp_schema_1_0_0"]
    live = released(hop)
    live["jobs"][0]["priority"] = "tinyint(4) NOT NULL"
    assert compat.compare_structure(hop, rows_of(live)) == []
    live["jobs"][0]["priority"] = "int(11)"
    assert compat.compare_structure(hop, rows_of(live)) == [
        "column jobs.priority (int(11)) is not part of this version's schema"]


def sqlite_rows(db):
    rows = []
    for stmt in compat.CATALOG_SQL["sqlite"].split(";\n"):
        if stmt.strip():
            rows += [[str(x) for x in r] for r in db.execute(stmt)]
    return rows


def test_the_sqlite_dialect_reads_arcs_real_catalog_as_its_checks_declare():
    """arc's migrations applied to a real SQLite database; the checker's catalog query read from it."""
    mig = os.path.join(TOP, "packaging", "arc", "src", "share", "migrations")
    db = sqlite3.connect(":memory:")
    db.executescript(open(os.path.join(mig, "0001_1.0.0_baseline.sql")).read())
    checks = checks_of("arc")
    assert compat.compare_structure(checks["arc_schema_1_0_0"], sqlite_rows(db)) == []
    db.executescript(open(os.path.join(mig, "0002_1.1.0_object_tier.sql")).read())
    assert compat.compare_structure(checks["arc_schema_1_1_0"], sqlite_rows(db)) == []
    assert compat.compare_structure(checks["arc_schema_1_0_0"], sqlite_rows(db)) == [
        "column objects.tier (TEXT NOT NULL) is not part of this version's schema",
        "index objects.idx_objects_tier (tier) is not part of this version's schema"]


def test_configuration_needs_every_key_the_migration_reads_and_none_it_does_not_expect():
    c = checks_of("arc")["arc_config_1_0_0"]
    good = "ARC_DB=/var/lib/arc/catalog.db\nARC_POLL_SECONDS=5\nARC_PORT=9080\nARC_STORE=/s\nARC_WORKER_PORT=9081\n"
    assert compat.compare_configuration(c, good) == []
    bad = good.replace("ARC_PORT=9080\n", "ARC_WORKER_INTERVAL=5\n")
    assert compat.compare_configuration(c, bad) == [
        "key ARC_PORT is missing", "key ARC_WORKER_INTERVAL is set, the migration does not expect it"]
    ini = checks_of("drp")["drp_config_1x"]
    assert compat.compare_configuration(ini, "[kmc]\nurl = x\n")[0] == "key meta.version is missing"
    js = checks_of("drp")["drp_config_2x"]
    assert "key kmc.endpoint is set, the migration does not expect it" in compat.compare_configuration(
        js, '{"kmc": {"endpoint": "x"}}')
    with pytest.raises(DrupgradeError):  # not the file's format: the checker reports its message
        compat.compare_configuration(js, "[kmc]\n")


def test_api_the_service_answers_as_the_source_and_the_target_keeps_its_apis():
    c = dict(checks_of("drp")["drp_api"])
    assert compat.compare_api(c, ("1.0.0", "2.2.0"), '{"version": "1.0.0", "status": "ok"}') == []
    assert compat.compare_api(c, ("1.0.0", "2.2.0"), '{"version": "1.5.0"}') == [
        "the service answers as 1.5.0, expected 1.0.0"]
    assert compat.compare_api(c, ("1.0.0", "2.2.0"), "curl: (7) Failed to connect")[0].startswith("no version in")
    c["declared"] = dict(c["declared"], **{"v2.2.0": ["health/1"]})
    assert compat.compare_api(c, ("1.0.0", "2.2.0"), '{"version": "1.0.0"}') == [
        "2.2.0 drops the API version/1, jobs-summary/1 that 1.0.0 serves"]


def test_dependency_versions_against_minimum_and_below():
    d = checks_of("drp")
    assert compat.compare_dependency(d["drp_mariadb"], "mysqld  Ver 10.11.19-MariaDB-0+deb12u1 for debian")[0] == []
    assert compat.compare_dependency(d["drp_mariadb"], "mysqld  Ver 10.1.48-MariaDB")[0] == [
        "version 10.1.48 is older than 10.3.0"]
    assert compat.compare_dependency(d["drp_etcd"], "etcd Version: 4.0.1\n")[0] == ["version 4.0.1 is not below 4.0.0"]
    assert compat.compare_dependency(d["drp_systemd"], "systemd 252 (252.38-1~deb12u1)\n+PAM")[0] == []
    assert compat.compare_dependency(d["drp_systemd"], "systemd 237 (237)")[0] == []  # 237 == 237.0.0
    assert compat.compare_dependency(d["drp_systemd"], "systemd 219")[0] == ["version 219 is older than 237.0.0"]
    assert compat.compare_dependency(d["drp_python3"], "bash: python3: command not found")[0][0].startswith(
        "no version in")


def test_data_format_values_the_migrations_read():
    c = checks_of("drp")["drp_collation"]
    assert compat.compare_data_format(c, [["utf8mb4_bin"]]) == ([], ["utf8mb4_bin"])
    assert compat.compare_data_format(c, [["utf8mb4_bin"], ["utf8mb3_general_ci"]])[0] == [
        "utf8mb3_general_ci found, the migrations read only utf8mb4_bin"]


# -- the checker on (fake) nodes ------------------------------------------------------------------
class Node:
    def __init__(self, name, roles):
        self.name, self.roles = name, roles


class Cfg:
    def __init__(self):
        self.nodes = [Node("node1", ["db_primary", "etcd", "app"]), Node("node2", ["db_replica", "etcd", "app"]),
                      Node("node3", ["etcd", "app"])]
        self.run = {"max_parallel": 3}


class Transport:
    """Answers each check's command like a drp node of the schema (1.0.0: hot-fix jobs.priority); records the calls."""

    def __init__(self, drift=True, schema="1.0.0"):
        self.calls = []
        self.schema = schema  # what drp-dbtool schema-version says (a mixed cluster's may be ahead)
        live = released(checks_of("drp")[{"1.0.0": "drp_schema_1_0_0_jump", "1.5.0": "drp_schema_1_5_0"}[schema]])
        if drift:
            live["jobs"][0]["priority"] = "tinyint(4) NOT NULL"
        self.catalog = "\n".join("\t".join(r) for r in rows_of(live)) + "\n"

    def run(self, node, words, stdin=None, timeout=None):
        self.calls.append((node.name, tuple(words)))
        line = " ".join(words)
        if "schema-version" in line:
            out = self.schema + "\n"
        elif stdin and "information_schema.COLUMNS" in stdin:
            out = self.catalog
        elif stdin:
            out = "utf8mb4_bin\n"
        elif words[0] == "cat":
            sections = {}
            for k in checks_of("drp")["drp_config_1x"]["required_keys"]:
                sections.setdefault(k.split(".")[0], []).append(k.split(".")[1])
            out = "".join("[%s]\n%s" % (s, "".join("%s = x\n" % k for k in keys)) for s, keys in sections.items())
        elif "curl" in line:
            out = '{"version": "1.0.0"}'
        elif "mysqld" in line:
            out = "mysqld  Ver 10.11.19-MariaDB"
        elif "etcd" in line:
            out = "etcd Version: 3.4.23"
        elif "systemctl" in line:
            out = "systemd 252 (252.38)"
        else:
            out = "Python 3.11.2"
        return CommandResult(node.name, line, 0, out, "")


def checker(drift=True, live="1.0.0", schema=None):
    """live: every node's version, or {node: version} (a mixed cluster)."""
    found = live if isinstance(live, dict) else {n.name: live for n in Cfg().nodes}
    return compat.Checker(Cfg(), Transport(drift, schema or min(found.values())), product.load("drp"), found)


def test_the_checker_runs_each_check_on_the_nodes_of_its_roles_and_reads_a_command_once():
    c = checker()
    failed = c.check([("1.0.0", "2.2.0")])
    assert [(r["check"], r["node"], r["result"]) for r in failed] == [("drp_schema_1_0_0_jump", "node1", "fail")]
    by = {(r["check"], r["node"]): r for r in c.results}
    assert ("drp_mariadb", "node3") not in by and ("drp_mariadb", "node2") in by  # roles
    assert by[("drp_systemd", "node3")]["result"] == "pass" and by[("drp_systemd", "node3")]["detail"].startswith("252")
    assert set(r["kind"] for r in c.results) == KINDS
    assert all(set(r) == {"check", "kind", "hop", "node", "result", "detail"} for r in c.results)
    before = len(c.transport.calls)
    assert c.check([("1.0.0", "1.5.0"), ("1.5.0", "2.0.0")]) == []
    # The second plan reads no dependency again (one answer per command and node), and the hop
    # whose source the path writes is not read live: its state checks are skipped with the reason.
    assert all(w[0] == "bash" and "curl" not in w[2] and "version" not in w[2] for _n, w in c.transport.calls[before:])
    later = [r for r in c.results if r["hop"] == "v1.5.0 -> v2.0.0"]
    assert {r["kind"] for r in later if r["result"] == "skip"} == KINDS - {"dependency"}
    assert {r["result"] for r in later if r["kind"] == "dependency"} == {"pass"}


def test_a_stopped_service_or_database_is_left_unread_not_failed():
    """After a crashed run the product is stopped: curl cannot connect (exit 7). The API check is
    skipped with the reason (the precheck's services check owns a stopped service); an answer with no
    version still fails."""
    c = checker(drift=False)
    real = c.transport.run

    def stopped(node, words, stdin=None, timeout=None):
        if "curl" in " ".join(words):
            return CommandResult(node.name, " ".join(words), 7, "", "curl: (7) Failed to connect to port 8080")
        return real(node, words, stdin=stdin, timeout=timeout)
    c.transport.run = stopped
    assert c.check([("1.0.0", "2.2.0")]) == []
    api = [r for r in c.results if r["kind"] == "api"]
    assert api and all(r["result"] == "skip" and "Failed to connect" in r["detail"] for r in api)
    c = checker(drift=False)  # the database stopped too: its structure and data format are not read
    c.transport.run = lambda node, words, stdin=None, timeout=None: CommandResult(
        node.name, " ".join(words), 1, "", "ERROR 2002 (HY000): Can't connect to local server") if stdin else stopped(
        node, words, stdin=stdin, timeout=timeout)
    assert c.check([("1.0.0", "2.2.0")]) == []
    assert {r["kind"] for r in c.results if r["result"] == "skip"} == {"database_structure", "data_format", "api"}
    c = checker(drift=False)
    c.transport.run = lambda node, words, stdin=None, timeout=None: CommandResult(
        node.name, " ".join(words), 0, "<html>maintenance</html>", "") if "curl" in " ".join(words) else real(
        node, words, stdin=stdin, timeout=timeout)
    assert {r["kind"] for r in c.check([("1.0.0", "2.2.0")])} == {"api"}


class LocalTransport:
    """Runs each command here, in bash (the node is this machine); records each ssh command it stands for."""

    def __init__(self):
        self.calls = []

    def run(self, node, words, stdin=None, timeout=None):
        from drupgrade.transport.quoting import join
        self.calls.append((node.name, tuple(words)))
        p = subprocess.run(["bash", "-c", join(words)], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
        return CommandResult(node.name, join(words), p.returncode, p.stdout, p.stderr)


def test_a_nodes_checks_are_read_in_one_ssh_command_with_the_same_answers(tmp_path):
    """read_ahead: every command a node's checks may run goes in one ssh command (a batch script), and
    each answer (exit code, stdout, stderr, its stdin) is what the command alone gives. Binary-looking
    output, a failing command and a command whose answer is not needed (the state is elsewhere) included."""
    conf = tmp_path / "app.ini"
    conf.write_text("[db]\nhost = x\n")
    applies = {"source_range": ["v1.0.0", "v1.0.0"], "target_range": ["v2.0.0", "v2.0.0"]}
    checks = [
        {"id": "dep", "kind": "dependency", "applies": applies, "command": "echo 'tool v3.4.5'; echo warn >&2",
         "pattern": "v([0-9.]+)", "minimum": "3.0.0"},
        {"id": "conf", "kind": "configuration", "applies": applies, "file": str(conf), "format": "ini",
         "required_keys": ["db.host"], "absent_keys": ["db.url"]},
        {"id": "rows", "kind": "data_format", "applies": applies, "client": "grep -c SELECT; printf 'a\\tb\\n'",
         "query": "SELECT 1", "allowed": ["1", "a\tb"], "state_version": "echo 1.0.0"},
        {"id": "gone", "kind": "api", "applies": applies, "command": "echo 'no such service' >&2; exit 7",
         "pattern": "v([0-9.]+)", "declared": {"v1.0.0": ["v1"], "v2.0.0": ["v1"]}},
        {"id": "ahead", "kind": "data_format", "applies": applies, "client": "exit 99", "query": "SELECT 2",
         "allowed": [], "state_version": "echo 2.0.0"},
        {"id": "big", "kind": "dependency", "applies": applies,  # more than a pipe holds: read in turn
         "command": "head -c 300000 /dev/zero | tr '\\0' x; echo; echo 'big v9.9.9'", "pattern": "big v([0-9.]+)",
         "minimum": "9.0.0"},
    ]

    def results(read_ahead):
        t = LocalTransport()
        c = compat.Checker(Cfg(), t, None, {n.name: "1.0.0" for n in Cfg().nodes}, checks=checks)
        if not read_ahead:
            c.read_ahead = lambda node, todo: None
        failed = c.check([("1.0.0", "2.0.0")])
        return t.calls, failed, c.results
    calls, failed, found = results(True)
    alone_calls, alone_failed, alone = results(False)
    assert found == alone and failed == alone_failed
    assert {r["check"]: r["result"] for r in found if r["node"] == "node1"} == {
        "dep": "pass", "conf": "pass", "rows": "pass", "gone": "skip", "ahead": "skip", "big": "pass"}
    assert [r["detail"] for r in found if r["check"] == "rows"][0] == "1, a\tb"
    assert sorted(n for n, _w in calls) == ["node1", "node2", "node3"]  # one ssh command per node
    assert len(alone_calls) == 3 * 7  # one by one: seven commands a node (the state ahead: its rows not read)


def test_a_node_out_of_reach_is_an_error_naming_it():
    c = checker()
    c.transport.run = lambda node, words, **kw: CommandResult(node.name, "x", 255, "", "No route to host")
    with pytest.raises(DrupgradeError) as e:
        c.check([("1.0.0", "2.2.0")])
    assert "cannot reach node node" in e.value.message and "No route to host" in e.value.message


# -- the fallback rules (versions.plan_path with a checker) ---------------------------------------
class Fake:
    """A checker whose failing hops are given: check(hops) fails those, remembers what was asked."""

    def __init__(self, failing=()):
        self.failing = set(failing)
        self.asked = []
        self.fallback_reason = None
        self.checks = [{"id": "c", "description": "d", "description_zh": "d", "hint": "h", "hint_zh": "h"}]

    def check(self, hops):
        self.asked.append(list(hops))
        return [{"check": "c", "kind": "database_structure", "hop": "v%s -> v%s" % h, "node": "node1",
                 "result": "fail", "detail": "drift"} for h in hops if h in self.failing]

    refused = compat.Checker.refused
    failure_lines = compat.Checker.failure_lines
    describe = compat.Checker.describe


def matrix():
    return product.load("drp").matrix()


def test_a_jump_whose_checks_pass_is_the_plan():
    f = Fake()
    assert versions.plan_path(matrix(), "1.0.0", "2.2.0", "auto", f) == ([("1.0.0", "2.2.0")], "jump_upgrade")
    assert f.asked == [[("1.0.0", "2.2.0")]] and f.fallback_reason is None


def test_a_failed_jump_falls_back_to_the_progressive_path_whose_hops_pass():
    f = Fake(failing=[("1.0.0", "2.2.0")])
    hops, kind = versions.plan_path(matrix(), "1.0.0", "2.2.0", "auto", f)
    assert kind == "progressive_upgrade" and hops == [("1.0.0", "1.5.0"), ("1.5.0", "2.0.0"), ("2.0.0", "2.1.0"),
                                                      ("2.1.0", "2.2.0")]
    assert f.asked == [[("1.0.0", "2.2.0")], hops]
    assert f.fallback_reason == "the jump 1.0.0 -> 2.2.0 fails c on node1 (drift): the progressive path is taken"


def test_mode_jump_refuses_a_failed_jump_with_exit_3_naming_check_node_and_what_to_do():
    f = Fake(failing=[("1.0.0", "2.2.0")])
    with pytest.raises(DrupgradeError) as e:
        versions.plan_path(matrix(), "1.0.0", "2.2.0", "jump", f)
    assert e.value.code == EXIT_PRECHECK
    assert "the jump 1.0.0 -> 2.2.0 fails its compatibility checks; nothing was changed on any node" in e.value.message
    assert "c (database_structure: d) on node1, hop v1.0.0 -> v2.2.0: drift; what to do: h" in e.value.message
    assert "--mode auto or progressive" in e.value.hint
    assert f.asked == [[("1.0.0", "2.2.0")]]  # no fallback looked at


def test_a_progressive_path_whose_hop_fails_is_refused_as_the_flowchart_says():
    f = Fake(failing=[("1.0.0", "2.2.0"), ("1.0.0", "1.5.0")])
    with pytest.raises(DrupgradeError) as e:
        versions.plan_path(matrix(), "1.0.0", "2.2.0", "auto", f)
    assert e.value.code == EXIT_PRECHECK and "hop v1.0.0 -> v1.5.0" in e.value.message
    assert "hop v1.0.0 -> v2.2.0" in e.value.message  # the jump's failure is named too
    f = Fake(failing=[("1.0.0", "1.5.0")])
    with pytest.raises(DrupgradeError) as e:
        versions.plan_path(matrix(), "1.0.0", "2.2.0", "progressive", f)
    assert e.value.code == EXIT_PRECHECK and "the upgrade path 1.0.0 -> 1.5.0 -> 2.0.0" in e.value.message


def test_a_failed_jump_without_another_path_is_refused():
    f = Fake(failing=[("2.0.0", "2.2.0")])  # 2.0.0 lists no intermediate version: the jump is the only path
    with pytest.raises(DrupgradeError) as e:
        versions.plan_path(matrix(), "2.0.0", "2.2.0", "auto", f)
    assert e.value.code == EXIT_PRECHECK and "the matrix has no progressive path" in e.value.message


def test_the_real_checker_falls_back_on_the_hot_fix_and_jumps_without_it():
    hops, kind = versions.plan_path(matrix(), "1.0.0", "2.2.0", "auto", checker(drift=False))
    assert kind == "jump_upgrade"
    c = checker(drift=True)
    hops, kind = versions.plan_path(matrix(), "1.0.0", "2.2.0", "auto", c)
    assert kind == "progressive_upgrade" and hops[0] == ("1.0.0", "1.5.0")
    assert c.fallback_reason.startswith("the jump 1.0.0 -> 2.2.0 fails drp_schema_1_0_0_jump on node1 (column "
                                        "jobs.priority")


def test_a_mixed_cluster_is_checked_live_on_each_node_where_its_state_is_at_the_hops_source():
    """node3 was finished by hand at 1.5.0 (and the primary's schema with it); node1 and node2 run
    1.0.0. The plan: node1 and node2 catch up (1.0.0 -> 1.5.0, checked on them only), then every node
    jumps 1.5.0 -> 2.2.0. The jump's checks read node3 live (it runs 1.5.0) and the database (its
    schema is at 1.5.0) although node1 runs 1.0.0; node1's and node2's own configuration and API are
    skipped (the catch-up hop writes them); the catch-up's schema check finds the schema ahead."""
    c = checker(drift=False, live={"node1": "1.0.0", "node2": "1.0.0", "node3": "1.5.0"}, schema="1.5.0")
    c.transport.run = _answers_by_node(c.transport, {"node3": '{"version": "1.5.0"}'})
    plan = mixed.plan_cluster(product.load("drp").matrix(), c.live, "2.2.0", "auto", c)
    assert plan.hops == [("1.0.0", "1.5.0"), ("1.5.0", "2.2.0")] and plan.hop_nodes[0] == ["node1", "node2"]
    by = {(r["hop"], r["check"], r["node"]): (r["result"], r["detail"]) for r in c.results}
    assert not [k for k in by if k[0] == "v1.0.0 -> v1.5.0" and k[2] == "node3"]  # the catch-up is node1's, node2's
    assert by[("v1.0.0 -> v1.5.0", "drp_schema_1_0_0", "node1")][0] == "skip"
    assert "at 1.5.0 already, past 1.0.0" in by[("v1.0.0 -> v1.5.0", "drp_schema_1_0_0", "node1")][1]
    assert by[("v1.0.0 -> v1.5.0", "drp_api", "node1")][0] == "pass"  # node1 runs 1.0.0: read live
    assert by[("v1.5.0 -> v2.2.0", "drp_schema_1_5_0", "node1")][0] == "pass"  # the schema is at 1.5.0: read live
    assert by[("v1.5.0 -> v2.2.0", "drp_api", "node3")][0] == "pass"
    assert by[("v1.5.0 -> v2.2.0", "drp_api", "node1")][0] == "skip"
    assert by[("v1.5.0 -> v2.2.0", "drp_config_1x", "node3")][0] == "pass"
    assert c.scope is None and c.fallback_reason is None
    # node3's service answers as another version: every path from 1.5.0 fails on node3, the plan is refused
    c = checker(drift=False, live={"node1": "1.0.0", "node2": "1.0.0", "node3": "1.5.0"}, schema="1.5.0")
    c.transport.run = _answers_by_node(c.transport, {"node3": '{"version": "1.4.0"}'})
    with pytest.raises(DrupgradeError) as e:
        mixed.plan_cluster(product.load("drp").matrix(), c.live, "2.2.0", "auto", c)
    assert "drp_api (api: " in e.value.message and "on node3, hop v1.5.0 -> v2.2.0: the service answers as 1.4.0" \
        in e.value.message
    # a check of the jump alone fails on node3 (its configuration lacks a key the jump reads): that part
    # of the plan falls back to the progressive path, and the plan says why
    c = checker(drift=False, live={"node1": "1.0.0", "node2": "1.0.0", "node3": "1.5.0"}, schema="1.5.0")
    c.checks.append({"id": "jump_key", "kind": "configuration", "file": "/etc/drp/drp.ini", "format": "ini",
                     "description": "a key the jump reads", "description_zh": "跳跃升级读取的键",
                     "hint": "add it", "hint_zh": "添加它",
                     "required_keys": ["jump.only"], "applies": {"source_range": ["1.5.0", "1.5.0"],
                                                                 "target_range": ["2.2.0", "2.2.0"]}})
    c.transport.run = _answers_by_node(c.transport, {"node3": '{"version": "1.5.0"}'})
    plan = mixed.plan_cluster(product.load("drp").matrix(), c.live, "2.2.0", "auto", c)
    assert plan.hops == [("1.0.0", "1.5.0"), ("1.5.0", "2.0.0"), ("2.0.0", "2.1.0"), ("2.1.0", "2.2.0")]
    assert c.fallback_reason.startswith("the jump 1.5.0 -> 2.2.0 fails jump_key on node3 (key jump.only is missing)")


def _answers_by_node(transport, curl):
    """The transport's answers, the health endpoint's answer of the nodes named in curl replaced."""
    real = transport.run

    def run(node, words, stdin=None, timeout=None):
        if node.name in curl and "curl" in " ".join(words):
            return CommandResult(node.name, " ".join(words), 0, curl[node.name], "")
        return real(node, words, stdin=stdin, timeout=timeout)
    return run
