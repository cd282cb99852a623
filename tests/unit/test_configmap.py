"""drupgrade.configmap: a config file mapped key by key (INI <-> JSON, renames, removals, set,
defaults, types) from a mapping file checked by its schema."""
import json

import pytest

from drupgrade import configmap
from drupgrade.errors import EXIT_USAGE, DrupgradeError

INI = """[node]
name = node1
roles = db_primary, app

[database]
host = 10.0.0.1
port = 3306
legacy_cache = on
"""


def test_ini_to_json_renames_removes_defaults_and_types():
    mapping = {"source": {"format": "ini"}, "target": {"format": "json"},
               "rename": {"database.host": "database.primary.host", "database.port": "database.primary.port"},
               "remove": ["database.legacy_cache"],
               "defaults": {"app.port": 8080, "node.name": "never"},
               "set": {"product_version": "2.3.0"},
               "types": {"node.roles": "list", "database.primary.port": "integer"}}
    out = json.loads(configmap.convert(INI, mapping))
    assert out == {"node": {"name": "node1", "roles": ["db_primary", "app"]},
                   "database": {"primary": {"host": "10.0.0.1", "port": 3306}},
                   "product_version": "2.3.0", "app": {"port": 8080}}


def test_json_to_ini_and_back_keeps_the_keys():
    data = {"node": {"name": "n1", "roles": ["a", "b"]}, "app": {"port": 8080, "debug": False}}
    mapping = {"source": {"format": "json"}, "target": {"format": "ini"}}
    text = configmap.convert(json.dumps(data), mapping)
    assert text == "[node]\nname = n1\nroles = a, b\n\n[app]\nport = 8080\ndebug = false\n\n"
    back = {"source": {"format": "ini"}, "target": {"format": "json"},
            "types": {"node.roles": "list", "app.port": "integer", "app.debug": "boolean"}}
    assert json.loads(configmap.convert(text, back)) == data


def test_json_to_json_rename_of_a_missing_key_is_nothing_and_defaults_do_not_overwrite():
    mapping = {"source": {"format": "json"}, "target": {"format": "json"},
               "rename": {"old.key": "new.key"}, "defaults": {"a.b": 1}}
    assert json.loads(configmap.convert('{"a": {"b": 2}}', mapping)) == {"a": {"b": 2}}


def test_a_rename_never_overwrites_the_new_key_and_emptied_tables_go():
    """The rules of a config upgrade: when the old and the new key are both there, the new one
    wins and the old one goes; a table a rename or removal empties is not left behind."""
    mapping = {"source": {"format": "json"}, "target": {"format": "json"},
               "rename": {"kmc.url": "kmc.endpoint", "meta.version": "product_version"},
               "remove": ["app.max_threads"]}
    text = json.dumps({"meta": {"version": "1.0.0"}, "kmc": {"url": "old", "endpoint": "new"},
                       "app": {"max_threads": 16}, "node": {"name": "n1"}})
    assert json.loads(configmap.convert(text, mapping)) == {"kmc": {"endpoint": "new"}, "product_version": "1.0.0",
                                                           "node": {"name": "n1"}}
    ini = "[meta]\nversion = 1.0.0\n\n[kmc]\nurl = http://k:8700\n"
    to_json = dict(mapping, source={"format": "ini"})
    assert json.loads(configmap.convert(ini, to_json)) == {"kmc": {"endpoint": "http://k:8700"},
                                                          "product_version": "1.0.0"}


@pytest.mark.parametrize("text, mapping, what", [
    ('{"a": {"b": {"c": 1}}}', {"source": {"format": "json"}, "target": {"format": "ini"}}, "two levels"),
    ('{"a": 1}', {"source": {"format": "json"}, "target": {"format": "ini"}}, "sections of keys"),
    ("[s]\nport = eighty\n", {"source": {"format": "ini"}, "target": {"format": "json"},
                              "types": {"s.port": "integer"}}, "expected a value of type integer"),
    ("not ini", {"source": {"format": "ini"}, "target": {"format": "json"}}, "no section headers"),
    ("{", {"source": {"format": "json"}, "target": {"format": "ini"}}, "not valid JSON"),
])
def test_what_cannot_be_mapped_is_exit_2_naming_the_key(text, mapping, what):
    with pytest.raises(DrupgradeError) as exc:
        configmap.convert(text, mapping, where="/etc/x/app.ini")
    assert exc.value.code == EXIT_USAGE and "/etc/x/app.ini" in exc.value.message and what in exc.value.message


def test_a_mapping_file_is_checked_by_its_schema(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"source": {"format": "yaml"}, "target": {"format": "json"}}))
    path.chmod(0o600)
    with pytest.raises(DrupgradeError) as exc:
        configmap.load(str(path))
    assert "m.json" in exc.value.message and "/source/format" in exc.value.message
    assert "ini, json, env" in exc.value.message


# -- env: KEY=value lines (systemd EnvironmentFile syntax) ---------------------------------------
ENV = """# written by hand
B_KEY=two words = and more
A_KEY=1

OLD=x
"""


def test_env_renames_removes_sets_and_defaults_with_a_header_and_sorted_keys():
    mapping = {"source": {"format": "env"}, "target": {"format": "env", "header": "# app 2.0 (generated)",
                                                       "sort_keys": True},
               "rename": {"OLD": "NEW"}, "remove": ["A_KEY"], "set": {"VERSION": "2.0"},
               "defaults": {"B_KEY": "never", "C_KEY": 30}}
    assert configmap.convert(ENV, mapping) == (
        "# app 2.0 (generated)\nB_KEY=two words = and more\nC_KEY=30\nNEW=x\nVERSION=2.0\n")
    plain = {"source": {"format": "env"}, "target": {"format": "env"}}
    assert configmap.convert(ENV, plain) == "B_KEY=two words = and more\nA_KEY=1\nOLD=x\n"  # the order kept


def test_a_chain_of_mappings_applies_each_in_order_and_the_last_target_writes():
    first = {"source": {"format": "env"}, "target": {"format": "env"}, "rename": {"OLD": "MID"}}
    second = {"source": {"format": "env"}, "target": {"format": "json"}, "rename": {"MID": "NEW"},
              "types": {"A_KEY": "integer"}}
    assert json.loads(configmap.convert(ENV, [first, second])) == {"B_KEY": "two words = and more", "A_KEY": 1,
                                                                   "NEW": "x"}


@pytest.mark.parametrize("text, target, what", [
    ("A=1\nnot a line\n", "env", "line 2: expected KEY=value"),
    ("A=1\nA=2\n", "env", "line 2: the key A is given twice"),
    ("[s]\nk = v\n", "ini", "KEY=value lines; s holds more"),
])
def test_what_an_env_file_cannot_hold_is_exit_2_naming_the_line_or_key(text, target, what):
    fmt = {"source": {"format": target}, "target": {"format": "env"}}
    with pytest.raises(DrupgradeError) as exc:
        configmap.convert(text, fmt, where="node1:/etc/x/app.env")
    assert exc.value.code == EXIT_USAGE and "node1:/etc/x/app.env" in exc.value.message and what in exc.value.message


def test_header_set_and_defaults_take_the_hops_references(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"source": {"format": "env"},
                                "target": {"format": "env", "header": "# v${target_version}"},
                                "set": {"V": "${target_version}"}, "defaults": {"FROM": "${source_version}"}}))
    path.chmod(0o600)
    m = configmap.substitute(configmap.load(str(path)), {"target_version": "2.0.0", "source_version": "1.0.0"},
                             str(path))
    assert configmap.convert("A=1\n", m) == "# v2.0.0\nA=1\nV=2.0.0\nFROM=1.0.0\n"
    with pytest.raises(DrupgradeError) as exc:
        configmap.substitute(configmap.load(str(path)), {"target_version": "2.0.0"}, str(path))
    assert "m.json" in exc.value.message and "/defaults/FROM" in exc.value.message


def test_a_json_target_takes_no_header(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"source": {"format": "env"}, "target": {"format": "json", "header": "# x"}}))
    path.chmod(0o600)
    with pytest.raises(DrupgradeError) as exc:
        configmap.load(str(path))
    assert "m.json" in exc.value.message and "/target" in exc.value.message


class LocalTransport:
    """Runs each command here (the node is this machine), as the ssh transport would there."""

    def run(self, node, words, stdin=None, timeout=None):
        import subprocess

        from drupgrade.transport import CommandResult
        p = subprocess.run(words, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return CommandResult(node.name, " ".join(words), p.returncode, p.stdout.decode(), p.stderr.decode())


def test_a_mapped_file_is_kept_within_its_run_and_mapped_again_by_another_run(tmp_path):
    """The mapped file is the node's config as the run found it: a retry of the same run keeps it (the
    node's file may already be the mapped one), a later run (after a failed or rolled-back one, with
    the node's file changed meanwhile) maps the node's file again instead of installing a stale copy."""
    from types import SimpleNamespace
    conf = tmp_path / "app.json"
    conf.write_text(json.dumps({"db": {"password": "first"}}))
    mapped = tmp_path / "work" / "toy-2.0.0.config" / "config_pre-app.json"
    binding = SimpleNamespace(params={"file": str(conf), "mapped": str(mapped)}, mapping=[
        {"source": {"format": "json"}, "target": {"format": "json"}, "rename": {"db.password": "db.secret"}}])
    node, t = SimpleNamespace(name="node1"), LocalTransport()
    assert configmap.prepare(t, node, binding, "run_1") is True
    assert json.loads(mapped.read_text()) == {"db": {"secret": "first"}}
    assert oct(mapped.stat().st_mode & 0o777) == "0o600"
    conf.write_text(json.dumps({"db": {"password": "second"}}))
    assert configmap.prepare(t, node, binding, "run_1") is False  # the same run: kept as mapped
    assert json.loads(mapped.read_text()) == {"db": {"secret": "first"}}
    assert configmap.prepare(t, node, binding, "run_2") is True  # another run: the node's file as it is now
    assert json.loads(mapped.read_text()) == {"db": {"secret": "second"}}
    assert (tmp_path / "work" / "toy-2.0.0.config" / "config_pre-app.json.run").read_text() == "run_2\n"
