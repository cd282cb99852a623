"""generator/checks.py: the generated state checks of a new version, written from the real packages
of build/packages (`make build packages`), products/<name>/ (product.json, generator.json's "checks")
and what generator/analyze.py finds between the newest package and the one before it (drp 2.2.0 ->
2.3.0, arc 1.1.0 -> 2.0.0). The lab proof (they pass at the new version, fail at the old one) is
tests/integration/test_generator.py."""
import ast
import copy
import importlib.util
import json
import os
import shutil
import subprocess

import pytest

from drupgrade import product
from drupgrade.generator import analyze, checks, source

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# importing a generated module outside tests/infra meets its `roles` marker unregistered
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")
PAIRS = {"drp": ("2.2.0", "2.3.0"), "arc": ("1.1.0", "2.0.0")}
NEWEST = {name: new for name, (_old, new) in PAIRS.items()}


@pytest.fixture(scope="module")
def opened():
    """{product: (the analysis of its newest hop, the newest package opened)}."""
    found, sources = {}, []
    try:
        for name, versions in PAIRS.items():
            paths = [os.path.join(TOP, "build", "packages", "%s-%s.tar.gz" % (name, v)) for v in versions]
            assert all(os.path.isfile(p) for p in paths), "run 'make build packages' first"
            old, new = source.open_pair(*paths)
            sources += [old, new]
            found[name] = (analyze.analyze(old, new), new)
        yield found
    finally:
        for s in sources:
            s.close()


def generate(opened, tmp_path, name, prod=None, analysis=None):
    """Write the checks; (the module as imported, its text, what write returned)."""
    base, new = opened[name]
    if prod:  # the package seen through another copy of its product (other hints)
        new = copy.copy(new)
        new.product, new.hints = prod, source.hints(prod)
    written = checks.write(str(tmp_path / "out"), analysis or base, new)
    path = written[0][0]
    assert path == str(tmp_path / "out" / "checks" / checks.module_name(name, NEWEST[name]))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ast.parse(text)  # valid Python
    spec = importlib.util.spec_from_file_location("generated_%s" % name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, text, written


def manifest_of(root):
    with open(os.path.join(root, "MANIFEST.sha256"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    return {p: d for d, p in (line.split(None, 1) for line in lines if line)}


def test_drp_2_3_0_names_its_files_units_ports_schema_and_keys(opened, tmp_path):
    mod, text, written = generate(opened, tmp_path, "drp")
    assert [os.path.basename(p) for p, _ in written] == ["test_drp_2_3_0_state.py", "conftest.py"]
    assert [t for _, t in written] == [[], []] and mod.UNDECIDED == [] and "TODO" not in text
    assert (mod.PRODUCT, mod.VERSION, mod.LINK, mod.VERSION_FILE) == ("drp", "2.3.0", "/opt/drp", "/opt/drp/VERSION")
    # files: every line of the package's manifest, the new program drp-events with its hash
    assert mod.FILES == manifest_of(opened["drp"][1].root)
    assert "bin/drp-events" in mod.FILES and "share/migrations/0006_2.3.0_schema_expand_job_events.sql" in mod.FILES
    # services: product.json's units per role plus the package's (the analysis: drp-events on app)
    assert mod.UNITS == {"app": ["drp-app.service", "drp-events.service", "drp.target"],
                         "db_primary": ["drp-db.service", "drp.target"],
                         "db_replica": ["drp-db.service", "drp.target"],
                         "etcd": ["drp-etcd.service", "drp.target"], "kmc": ["drp-kmc.service", "drp.target"]}
    assert "new in 2.3.0: drp-events.service" in text
    # ports: the hint's, and events.port (a 2.3.0 key) guessed as drp-events' on the app nodes
    assert {"roles": ["app"], "key": "events.port"} in mod.PORTS
    assert {"roles": ["kmc"], "port": 8700, "address": "127.0.0.1"} in mod.PORTS
    assert {"roles": ["app"], "key": "app.port"} in mod.PORTS
    assert "# guess: events.port is the port of drp-events.service" in text
    # schema version and config keys
    assert mod.SCHEMA == {"roles": ["db_primary", "db_replica"], "command": "/opt/drp/bin/drp-dbtool schema-version",
                          "field": None}
    assert mod.CONFIG_GET == "/opt/drp/bin/drp-config get"
    assert mod.CONFIG_PRESENT == ["app.health_timeout", "app.heartbeat_interval", "audit.database", "audit.enabled",
                                  "events.keep", "events.port", "kmc.cipher", "kmc.endpoint"]
    assert mod.CONFIG_ABSENT == ["app.max_threads", "kmc.url"]


def test_arc_2_0_0_names_its_files_units_ports_schema_and_keys(opened, tmp_path):
    mod, text, written = generate(opened, tmp_path, "arc")
    assert written[0][1] == [] and mod.UNDECIDED == []
    assert (mod.VERSION, mod.LINK, mod.VERSION_FILE) == ("2.0.0", "/opt/arc", "/opt/arc/VERSION")
    assert mod.FILES == manifest_of(opened["arc"][1].root)
    assert "share/migrations/0003_2.0.0_buckets.sql" in mod.FILES
    assert mod.UNITS == {"gateway": ["arc-gateway.service", "arc.target"],
                         "worker": ["arc-worker.service", "arc.target"]}
    assert mod.PORTS == [{"roles": ["gateway"], "key": "ARC_PORT"},
                         {"roles": ["worker"], "key": "ARC_WORKER_PORT", "address": "127.0.0.1"}]
    assert "guess" not in text  # both port keys are the hint's
    assert mod.SCHEMA == {"roles": ["gateway"], "command": "curl -sS --max-time 10 http://127.0.0.1:9080/health",
                          "field": "schema_version"}
    assert mod.CONFIG_GET == "/opt/arc/bin/arc-config get"
    assert mod.CONFIG_PRESENT == ["ARC_DATA_DIR", "ARC_HEARTBEAT_TIMEOUT", "ARC_PORT", "ARC_STORE",
                                  "ARC_WORKER_INTERVAL", "ARC_WORKER_PORT"]
    assert mod.CONFIG_ABSENT == ["ARC_DB", "ARC_POLL_SECONDS"]


def test_the_keys_of_a_version_are_its_releases_up_to_it_in_order(opened):
    """drp 2.2.0's keys are the releases' up to 2.2.0 (kmc.url and app.max_threads still there); at
    2.3.0 the rename and the removal of 2.3.0 apply before its new keys; arc's rename of 1.1.0."""
    releases = opened["drp"][0]["config"]["releases"]
    present, absent, defaults = checks.config_keys(releases, "2.2.0")
    assert present == ["app.health_timeout", "app.heartbeat_interval", "app.max_threads", "audit.database",
                       "audit.enabled", "kmc.cipher"] and absent == []
    present, absent, defaults = checks.config_keys(releases, "2.3.0")
    assert "kmc.endpoint" in present and absent == ["app.max_threads", "kmc.url"]
    assert defaults["events.port"] == 8091 and "app.max_threads" not in defaults
    present, absent, defaults = checks.config_keys(opened["arc"][0]["config"]["releases"], "1.1.0")
    assert "ARC_DB" in present and absent == ["ARC_POLL_SECONDS"] and defaults["ARC_WORKER_INTERVAL"] == "5"


def product_copy(tmp_path, name, hints):
    """products/<name>/ copied with generator.json's checks replaced."""
    d = tmp_path / "products"
    shutil.copytree(os.path.join(TOP, "products", name), str(d / name))
    with open(os.path.join(TOP, "products", name, "generator.json"), encoding="utf-8") as f:
        data = dict(json.load(f), checks=hints)
    (d / name / "generator.json").write_text(json.dumps(data))
    return product.load(name, str(d))


def test_without_hints_every_undecided_part_is_a_todo_and_fails_the_module(opened, tmp_path):
    mod, text, written = generate(opened, tmp_path, "drp", product_copy(tmp_path, "drp", {}))
    todos = written[0][1]
    assert [t.split(":")[0] for t in todos] == ["config keys", "listening ports", "schema version"]
    assert mod.UNDECIDED == ["TODO: " + t for t in todos] and text.count("TODO: ") == len(todos)
    assert mod.SCHEMA is None and mod.CONFIG_GET is None
    assert mod.UNITS["app"] == ["drp-app.service", "drp-events.service", "drp.target"]  # the package's: no hint
    with pytest.raises(AssertionError) as e:
        mod.test_nothing_left_undecided()
    assert "TODO: schema version" in str(e.value)


def test_a_port_key_no_unit_explains_is_a_todo(opened, tmp_path):
    """A new key that looks like a port, whose name matches no unit of the package: the roles that
    listen on it are the engineer's decision."""
    analysis = copy.deepcopy(opened["drp"][0])
    analysis["config"]["releases"]["2.3.0"]["defaults"]["backup.port"] = 8095
    _, _, written = generate(opened, tmp_path, "drp", analysis=analysis)
    assert written[0][1] == ["listening port: the config key backup.port (default 8095) looks like a port; which "
                             "roles listen on it? (products/drp/generator.json checks.ports.listen)"]


def test_the_conftest_lends_the_modules_the_state_checks_fixtures(opened, tmp_path):
    """Collected with pytest from another directory: the generated tests are parametrized per lab
    node with tests/infra's fixtures (a lab dir with an upgrade.ini; nothing runs on a node)."""
    _, _, written = generate(opened, tmp_path, "drp")
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "upgrade.ini").write_text("[node:node1]\nhost = 10.0.0.11\nroles = db_primary, etcd, kmc, app\n"
                                     "[node:node3]\nhost = 10.0.0.13\nroles = etcd, app\n")
    # the Python of the state checks (tests/prereqs.sh gives it pytest-testinfra; the unit venvs lack it)
    r = subprocess.run(["python3", "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                        os.path.dirname(written[0][0]), "--lab-dir", str(lab)], cwd=TOP,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout
    ids = {line.split("::")[1] for line in r.stdout.splitlines() if "::" in line}
    assert {"test_files[node1]", "test_files[node3]", "test_schema_version[node1]",
            "test_units_active[node3]", "test_listening_ports[node3]", "test_config_keys[node1]",
            "test_nothing_left_undecided"} <= ids
    assert "test_schema_version[node3]" not in ids  # the schema command runs on the db roles only
