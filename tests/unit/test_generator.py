"""The upgrade generator (bin/upgrade.sh generate, drupgrade.generator) against the real packages of
build/packages (`make build packages`): what it finds between drp 2.2.0 and 2.3.0 and between arc
1.1.0 and 2.0.0, the draft it writes (dropped into a copy of products/<name>/ with its TODOs decided
as GENERATED.md lists them, `strategies --check` passes; with them open, it fails), how close the
draft is to the hand-written data, bad input (exit 2, DIR untouched) and hand-edited files kept."""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from drupgrade import config, product, strategies
from drupgrade.commands.upgrade import generate
from drupgrade.errors import DrupgradeError
from drupgrade.generator import analyze, checks, source

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drafts import drop_in, resolve  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(TOP, "build", "packages")
STEPS = strategies.engine_steps(TOP)


def pkg(name):
    path = os.path.join(PKG, name + ".tar.gz")
    assert os.path.isfile(path), "run 'make build packages' first: %s is missing" % path
    return path


def analysis_of(a, b):
    old, new = source.open_pair(pkg(a), pkg(b))
    try:
        return analyze.analyze(old, new)
    finally:
        old.close()
        new.close()


def cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    return subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", "en", "generate"] + list(args),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def tree_hashes(top):
    found = {}
    for root, _dirs, names in os.walk(top):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                found[os.path.relpath(p, top)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def drp():
    return analysis_of("drp-2.2.0", "drp-2.3.0")


@pytest.fixture(scope="module")
def arc():
    return analysis_of("arc-1.1.0", "arc-2.0.0")


def test_drp_2_3_0_schema_job_events_added_and_jobs_created_at_dropped(drp):
    db = drp["database"]
    assert db["dialect"] == "mariadb"
    assert [(m["seq"], m["version"], m["kind"], m["name"], bool(m["rollback"])) for m in db["migrations"]] == [
        ("0006", "2.3.0", "schema", "job_events", True), ("0007", "2.3.0", "schema", "job_events", True)]
    assert db["schema_version"] == {"from": "2.2.0", "to": "2.3.0"}
    ev = db["schema"]["to"]["job_events"]
    assert [(c["name"], c["type"], c["not_null"]) for c in ev["columns"]] == [
        ("job_id", "INT", True), ("event", "VARCHAR(16)", True), ("at", "DATETIME", True)]
    assert ev["primary_key"] == ["job_id", "event"]
    assert ev["indexes"] == {"idx_job_events_at": {"columns": ["at"], "unique": False}}
    ch = db["changes"]
    assert ch["tables_added"] == ["job_events"] and ch["tables_removed"] == []
    assert ch["columns_removed"] == [{"table": "jobs", "column": "created_at", "type": "DATETIME"}]
    assert "created_at" in [c["name"] for c in db["schema"]["from"]["jobs"]["columns"]]


def test_drp_2_3_0_config_rename_removal_and_new_keys_with_defaults(drp):
    c = drp["config"]
    assert c["renamed"] == [{"from": "kmc.url", "to": "kmc.endpoint", "guess": False,
                             "why": "declared by the package (share/config/defaults.json, share/config/changes.json)"}]
    assert c["removed"] == ["app.max_threads"]
    assert c["added"] == {"events.keep": 500, "events.port": 8091}
    assert c["format_change"] is None and c["files"]["to"] == {"format": "json", "path": "${product.etc}/drp.json"}
    assert c["possible_renames"] == []


def test_drp_2_3_0_new_unit_and_drp_app_requires_it(drp):
    u = drp["units"]
    assert u["added"] == ["drp-events.service"] and u["removed"] == []
    assert u["to"]["drp-events.service"]["roles"] == ["app"]
    assert u["to"]["drp-db.service"]["roles"] == ["db_primary", "db_replica"]
    added = {(d["unit"], d["kind"], d["on"], tuple(d["roles"])) for d in u["dependencies"]["added"]}
    assert added == {("drp-app.service", "Requires", "drp-events.service", ()),
                     ("drp-app.service", "After", "drp-events.service", ()),
                     ("drp.target", "Wants", "drp-events.service", ("app",))}
    assert u["dependencies"]["removed"] == []
    assert ("drp-app.service", "Requires", "drp-kmc.service") in {
        (d["unit"], d["kind"], d["on"]) for d in u["dependencies"]["from"]}  # the old ones are read too
    assert "bin/drp-events" in drp["files"]["added"] and "bin/drp-units" in drp["files"]["changed"]
    assert drp["dependencies"] == {"declared": False, "files": [], "from": {}, "to": {}, "changed": []}


def test_arc_2_0_0_buckets_table_config_and_the_workers_new_order(arc):
    db = arc["database"]
    assert db["dialect"] == "sqlite"
    assert [m["name"] for m in db["migrations"]] == ["buckets"]
    ch = db["changes"]
    assert ch["tables_added"] == ["buckets"]
    assert [c["column"] for c in ch["columns_added"]] == ["bucket_id", "key"]
    assert [c["column"] for c in ch["columns_removed"]] == ["name"]
    assert [c["name"] for c in db["schema"]["to"]["objects"]["columns"]] == [
        "id", "bucket_id", "key", "size", "sha256", "created", "tier"]  # the rebuilt table, renamed
    assert db["schema"]["to"]["objects"]["indexes"]["idx_objects_tier"] == {"columns": ["tier"], "unique": False}
    c = arc["config"]
    assert c["removed"] == ["ARC_DB"] and c["added"] == {"ARC_DATA_DIR": "/var/lib/arc"} and c["renamed"] == []
    assert [(p["from"], p["to"]) for p in c["possible_renames"]] == [("ARC_DB", "ARC_DATA_DIR")]
    assert arc["units"]["added"] == []
    assert {(d["unit"], d["kind"], d["on"], tuple(d["roles"])) for d in arc["units"]["dependencies"]["added"]} == {
        ("arc-worker.service", "After", "arc-gateway.service", ("gateway",)),
        ("arc-worker.service", "Wants", "arc-gateway.service", ("gateway",))}


def test_older_drp_migrations_and_a_format_change_are_read_too():
    a = analysis_of("drp-1.5.0", "drp-2.0.0")
    ch = a["database"]["changes"]
    assert ch["tables_added"] == ["hosts"]
    assert [c["column"] for c in ch["columns_removed"]] == ["host"]
    assert [(c["column"], c["type"]) for c in ch["columns_added"]] == [("host_id", "INT")]
    cols = [c["name"] for c in a["database"]["schema"]["to"]["jobs"]["columns"]]
    assert cols.index("host_id") == cols.index("name") + 1  # ADD COLUMN ... AFTER name
    assert a["config"]["format_change"] == {"from": "ini", "to": "json"}


def test_an_unpacked_directory_gives_the_same_analysis(tmp_path, drp):
    with tarfile.open(pkg("drp-2.3.0")) as t:
        t.extractall(str(tmp_path))
    old, new = source.open_pair(pkg("drp-2.2.0"), str(tmp_path / "drp-2.3.0"))
    try:
        found = analyze.analyze(old, new)
    finally:
        old.close()
        new.close()
    assert dict(found, packages=None) == dict(drp, packages=None)


def _guess_case(tmp_path):
    """arc 1.0.0 and a 1.1.0 whose keys.json removes ARC_POLL_SECONDS and adds ARC_WORKER_INTERVAL with
    the same value instead of declaring the rename."""
    for name, sub in (("arc-1.0.0", "a"), ("arc-1.1.0", "b")):
        with tarfile.open(pkg(name)) as t:
            t.extractall(str(tmp_path / sub))
    keys = tmp_path / "b" / "arc-1.1.0" / "share" / "config" / "keys.json"
    data = json.loads(keys.read_text())
    data["1.1.0"] = {"remove": ["ARC_POLL_SECONDS"], "defaults": {"ARC_WORKER_INTERVAL": "5",
                                                                   "ARC_HEARTBEAT_TIMEOUT": "30"}}
    keys.write_text(json.dumps(data))
    return str(tmp_path / "a" / "arc-1.0.0"), str(tmp_path / "b" / "arc-1.1.0")


def test_an_undeclared_rename_is_guessed_from_value_and_place_and_left_to_decide(tmp_path):
    a, b = _guess_case(tmp_path)
    out = tmp_path / "out"
    analysis, d, _written = generate.generate("arc", a, b, str(out))
    assert analysis["config"]["renamed"] == [{
        "from": "ARC_POLL_SECONDS", "to": "ARC_WORKER_INTERVAL", "guess": True,
        "why": "release 1.1.0 removes ARC_POLL_SECONDS and adds ARC_WORKER_INTERVAL with the same value '5', "
               "in the same section (top level)"}]
    assert analysis["config"]["removed"] == []  # the default stays: a file without the old key gets it
    assert analysis["config"]["added"] == {"ARC_WORKER_INTERVAL": "5", "ARC_HEARTBEAT_TIMEOUT": "30"}
    mapping = json.loads((out / "config" / "1.1.0.json").read_text())
    assert mapping["rename"] == {"ARC_POLL_SECONDS": "ARC_WORKER_INTERVAL"}
    assert any(t.startswith("/rename/ARC_POLL_SECONDS: a rename guessed") for t in mapping["TODO"])
    assert any(t["file"] == "config/1.1.0.json" and t["path"] == "/rename/ARC_POLL_SECONDS" for t in d.todos)


@pytest.mark.parametrize("name, old, new, todos, sid", [
    ("drp", "2.2.0", "2.3.0", 4, "drp_v2_0_0_to_v2_3_0"),
    ("arc", "1.1.0", "2.0.0", 3, "arc_v1_0_0_to_v2_0_0")])
def test_the_draft_passes_strategies_check_once_its_todos_are_decided(tmp_path, name, old, new, todos, sid):
    out = tmp_path / "out"
    r = cli("--product", name, "--from", pkg("%s-%s" % (name, old)), "--to", pkg("%s-%s" % (name, new)),
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "%d points to decide (TODO)" % todos in r.stdout
    report = (out / "GENERATED.md").read_text()
    assert "## TODO: %d point(s) a person must decide" % todos in report
    assert report.count("\n%d. TODO `" % todos) == 1 and "\n%d. TODO `" % (todos + 1) not in report
    record = json.loads((out / "GENERATED.json").read_text())
    assert len(record["todos"]) == todos and record["files"] == {
        k: v for k, v in tree_hashes(str(out)).items() if k != "GENERATED.json"}
    products = str(tmp_path / "products")
    shutil.copytree(os.path.join(TOP, "products"), products)
    drop_in(str(out), products, name, new)
    with pytest.raises(DrupgradeError) as e:  # open TODOs: the schema refuses the file
        strategies.check(STEPS, products)
    assert "TODO" in str(e.value)
    assert resolve(str(tmp_path / "products" / name)) == todos
    hops = strategies.check(STEPS, products)
    into = {(s, d): i for p, s, d, i in hops if p == name and d == new}
    assert sid in into.values()
    assert into[(old, new)] == sid


def test_the_drp_draft_binds_what_the_hand_written_2_3_0_data_binds(tmp_path):
    out = tmp_path / "out"
    generate.generate("drp", pkg("drp-2.2.0"), pkg("drp-2.3.0"), str(out))
    mapping = json.loads((out / "config" / "2.0.0-2.3.0.json").read_text())
    hand = json.load(open(os.path.join(TOP, "products", "drp", "config", "2.x-2.3.0.json")))
    for key in ("source", "target", "rename", "remove", "defaults"):
        assert mapping[key] == hand[key], key
    s = json.loads((out / "strategies" / "drp_v2_0_0_to_v2_3_0.json").read_text())["upgrade_strategy"]
    h = json.load(open(os.path.join(TOP, "products", "drp", "strategies", "drp_v2_to_v2_3.json")))["upgrade_strategy"]
    assert s["applicable_versions"] == h["applicable_versions"]
    up = {e["template"]: e.get("parameters") for p in s["execution_plan"] if p["phase"] == "upgrade"
          for e in p["components"]}
    hup = {e["template"]: e.get("parameters") for p in h["execution_plan"] if p["phase"] == "upgrade"
           for e in p["components"]}
    assert up["drp_services"] == hup["drp_services"]  # drp-events started before drp-app
    assert up["drp_config_map"] == dict(hup["drp_config_map"], mapping="config/2.0.0-2.3.0.json")
    tpl = json.loads((out / "templates" / "drp_validation_v2_3_0.json").read_text())
    assert tpl["execution_steps"][0]["parameters"]["check_events"] == "app: unit ${product.events_unit}"


def test_the_1_x_mapping_moves_every_ini_key_where_the_packages_table_puts_it(tmp_path):
    """INI -> JSON: the package's share/config/ini-map.json (hints config.key_tables) places and types
    every key, the releases' renames follow (kmc.url -> kmc.endpoint): the hand-written mapping, no TODO."""
    out = tmp_path / "out"
    _, d, _ = generate.generate("drp", pkg("drp-2.2.0"), pkg("drp-2.3.0"), str(out))
    mapping = json.loads((out / "config" / "1.0.0-2.3.0.json").read_text())
    hand = json.load(open(os.path.join(TOP, "products", "drp", "config", "1.x-2.3.0.json")))
    for key in ("source", "target", "remove", "defaults", "types"):
        assert mapping[key] == hand[key], key
    assert list(mapping["rename"].items()) == list(hand["rename"].items())  # the order applies too
    assert "TODO" not in mapping and not any(t["file"] == "config/1.0.0-2.3.0.json" for t in d.todos)
    assert any("share/config/ini-map.json puts it (9 moved, 7 typed)" in x for x in d.decisions), d.decisions


def test_a_malformed_key_table_leaves_the_format_change_to_decide(tmp_path):
    """An entry of the table that is not [new key, type]: no key is moved, the TODO names the entry."""
    top = tmp_path / "drp-2.3.0"
    with tarfile.open(pkg("drp-2.3.0")) as tf:
        tf.extractall(str(tmp_path))
    table = top / "share" / "config" / "ini-map.json"
    data = json.loads(table.read_text())
    data["kmc.token"] = ["kmc.token", "secret"]
    table.write_text(json.dumps(data))
    lines = []
    for line in (top / "MANIFEST.sha256").read_text().splitlines():
        digest, path = line.split("  ", 1)
        if path == "share/config/ini-map.json":
            digest = hashlib.sha256(table.read_bytes()).hexdigest()
        lines.append("%s  %s" % (digest, path))
    (top / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    _, d, _ = generate.generate("drp", pkg("drp-2.2.0"), str(top), str(out))
    mapping = json.loads((out / "config" / "1.0.0-2.3.0.json").read_text())
    assert mapping["rename"] == {"kmc.url": "kmc.endpoint"} and "types" not in mapping
    todo = [t for t in d.todos if t["file"] == "config/1.0.0-2.3.0.json"]
    assert len(todo) == 1 and todo[0]["path"] == "/rename"
    assert "share/config/ini-map.json is not [new key, type] at: kmc.token" in todo[0]["question"]


def test_a_new_unit_gets_its_parameter_and_its_place_in_the_units_list(tmp_path, monkeypatch):
    """Against drp's data before 2.3.0 named drp-events: the draft adds it to product.json."""
    products = tmp_path / "products"
    shutil.copytree(os.path.join(TOP, "products"), str(products))
    pj = products / "drp" / "product.json"
    data = json.loads(pj.read_text())
    data["parameters"]["units"].remove("drp-events.service")
    del data["parameters"]["events_unit"]
    pj.write_text(json.dumps(data))
    monkeypatch.setattr(config, "PRODUCTS_DIR", str(products))
    product.load.cache_clear()
    try:
        generate.generate("drp", pkg("drp-2.2.0"), pkg("drp-2.3.0"), str(tmp_path / "out"))
    finally:
        monkeypatch.undo()
        product.load.cache_clear()
    drafted = json.loads((tmp_path / "out" / "product.json").read_text())["parameters"]
    assert drafted["units"] == ["drp-app.service", "drp-events.service", "drp-kmc.service", "drp-etcd.service",
                                "drp-db.service", "drp.target"]
    assert drafted["events_unit"] == "drp-events.service"


def _tar(path, top, members):
    with tarfile.open(str(path), "w:gz") as t:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                t.addfile(info)
            else:
                info.size = len(kind)
                t.addfile(info, io.BytesIO(kind))


@pytest.mark.parametrize("case, needle", [
    ("not_a_package", "is not a product package: its name"),
    ("unsafe", "holds a link"),
    ("no_version", "it has no VERSION file"),
    ("two_products", "different products"),
    ("same_version", "both packages are version 2.3.0"),
    ("downgrade", "a downgrade is not an upgrade"),
    ("wrong_product", "are of the product arc, not of drp"),
    ("missing", "does not exist"),
    ("unknown_product", "unknown product nope"),
])
def test_bad_input_is_exit_2_with_a_clear_message_and_dir_untouched(tmp_path, case, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept\n")
    before = tree_hashes(str(out))
    old, new = pkg("drp-2.2.0"), pkg("drp-2.3.0")
    if case == "not_a_package":
        new = str(tmp_path / "something.tar.gz")
        _tar(new, "something", [("something/VERSION", b"2.3.0\n")])
    elif case == "unsafe":
        new = str(tmp_path / "drp-2.4.0.tar.gz")
        _tar(new, "drp-2.4.0", [("drp-2.4.0/VERSION", b"2.4.0\n"), ("drp-2.4.0/bin/x", "link")])
    elif case == "no_version":
        new = str(tmp_path / "drp-2.4.0")
        os.makedirs(new)
        open(os.path.join(new, "MANIFEST.sha256"), "w").close()
    elif case == "two_products":
        new = pkg("arc-2.0.0")
    elif case == "same_version":
        old = new
    elif case == "downgrade":
        old, new = new, old
    elif case == "missing":
        new = str(tmp_path / "drp-9.9.9.tar.gz")
    product = "nope" if case == "unknown_product" else "drp"
    if case == "wrong_product":
        old, new = pkg("arc-1.1.0"), pkg("arc-2.0.0")
    r = cli("--product", product, "--from", old, "--to", new, "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and "what to do:" in r.stderr
    assert tree_hashes(str(out)) == before
    assert not [n for n in os.listdir(str(tmp_path)) if ".generate-" in n]


def test_an_error_while_writing_leaves_dir_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "out"
    generate.generate("drp", pkg("drp-2.2.0"), pkg("drp-2.3.0"), str(out))
    before = tree_hashes(str(out))

    def broken(out_dir, analysis, src):
        with open(os.path.join(out_dir, "half.json"), "w") as f:
            f.write("{")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checks, "write", broken)
    with pytest.raises(OSError):
        generate.generate("drp", pkg("drp-2.2.0"), pkg("drp-2.3.0"), str(out), force=True)
    assert tree_hashes(str(out)) == before
    assert sorted(os.listdir(str(tmp_path))) == ["out"]  # no staging directory left


def test_a_hand_edited_file_is_never_overwritten_unless_forced(tmp_path):
    out = tmp_path / "out"
    args = ("--product", "drp", "--from", pkg("drp-2.2.0"), "--to", pkg("drp-2.3.0"), "--out", str(out))
    assert cli(*args).returncode == 0
    assert cli(*args).returncode == 0  # untouched since generated: regenerated
    edited = out / "config" / "2.0.0-2.3.0.json"
    edited.write_text(edited.read_text().replace("8091", "9091"))
    (out / "NOTES.md").write_text("my notes\n")
    before = tree_hashes(str(out))
    r = cli(*args)
    assert r.returncode == 2
    assert "config/2.0.0-2.3.0.json" in r.stderr and "--force" in r.stderr
    assert tree_hashes(str(out)) == before
    r = cli(*(args + ("--force",)))
    assert r.returncode == 0, r.stderr
    assert "9091" not in edited.read_text() and (out / "NOTES.md").read_text() == "my notes\n"
    assert "NOTES.md" not in json.loads((out / "GENERATED.json").read_text())["files"]


def test_json_prints_the_analysis_and_the_decisions(tmp_path):
    r = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--json", "generate", "--product", "arc",
                        "--from", pkg("arc-1.1.0"), "--to", pkg("arc-2.0.0"), "--out", str(tmp_path / "o")],
                       env=dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python")),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["analysis"]["database"]["changes"]["tables_added"] == ["buckets"]
    assert any(x.startswith("strategy arc_v1_0_0_to_v2_0_0 (v1.0.0..v1.1.0, config format env) starts from "
                            "arc_to_v2") for x in data["decisions"])
    assert len(data["todos"]) == 3 and "GENERATED.md" in data["files"]
