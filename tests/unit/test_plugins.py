"""drupgrade.plugins: manifests checked before any node is touched (exit 2 naming file and field),
the type's limits lowered only, the policy of §4.5.3, what a node gets (plugin.env), the budget a
step's timeout gains; the engine's plugin markers. The node side (isolation, limits) is tested on
the lab: tests/integration/test_plugins.py."""
import json
import os

import pytest

from drupgrade import engine, plugins, product
from drupgrade.errors import EXIT_USAGE, DrupgradeError

STEPS = ["stop_services", "backup_db", "db_migrate", "check_services"]
DRP = product.load("drp")


class Cfg:
    def section(self, name):
        return self.data.get(name, {})

    def __init__(self, plugin_dir=None):
        self.data = {"plugins": {"dir": plugin_dir} if plugin_dir else {}}
        self.paths = {"node_tool_dir": "/opt/drupgrade", "node_run_dir": "/var/lib/drupgrade/runs",
                      "node_backup_dir": "/backup", "node_package_dir": "/var/lib/drupgrade/packages"}


def make(top, dirname, entry="run.sh", executable=True, **manifest):
    d = top / dirname
    d.mkdir(parents=True)
    data = {"name": dirname, "type": "business", "hook": "before:db_migrate", "entry": entry, "timeout": 30}
    data.update(manifest)
    (d / "plugin.json").write_text(json.dumps(data))
    if entry == "run.sh":
        (d / "run.sh").write_text("#!/bin/sh\nexit 0\n")
        os.chmod(str(d / "run.sh"), 0o755 if executable else 0o644)
    return d


def find(top):
    return plugins.find(Cfg(str(top)), STEPS, DRP)


def test_every_type_has_the_designs_limits_and_policy():
    t = plugins.types()
    assert [(k, t[k]["memory_mb"], t[k]["cpu_percent"]) for k in plugins.TYPES] == [
        ("core", 512, 50), ("business", 256, 30), ("third_party", 128, 20), ("database", 1024, 60)]
    assert [(k, t[k]["attempts"], t[k]["delay"], t[k]["on_failure"]) for k in plugins.TYPES] == [
        ("core", 3, 10, "stop"), ("business", 2, 5, "skip"), ("third_party", 1, 0, "skip"),
        ("database", 3, 10, "stop")]


def test_a_plugin_gets_its_types_limits_lowered_by_its_resources(tmp_path):
    make(tmp_path, "audit", type="third_party", roles=["app"], resources={"memory_mb": 64})
    make(tmp_path, "core-one", type="core", hook="after:stop_services")
    found = find(tmp_path)
    assert [p.name for p in found] == ["audit", "core-one"]
    audit, core = found
    assert audit.limits == {"memory_mb": 64, "cpu_percent": 20, "tasks": 64}
    assert (audit.when, audit.step, audit.attempts, audit.on_failure) == ("before", "db_migrate", 1, "skip")
    assert core.limits == {"memory_mb": 512, "cpu_percent": 50, "tasks": 256} and core.on_failure == "stop"
    assert audit.runs_on(["app", "etcd"]) and not audit.runs_on(["db_primary"]) and core.runs_on(["kmc"])


@pytest.mark.parametrize("change, field, needle", [
    ({"type": "vendor"}, "type", "vendor"),
    ({"hook": "during:db_migrate"}, "hook", "during"),
    ({"hook": "before:no_such_step"}, "hook", "not a node step"),
    ({"roles": ["nobody"]}, "roles", "unknown roles nobody"),
    ({"resources": {"memory_mb": 300}}, "resources.memory_mb", "only lower"),
    ({"name": "other"}, "name", "not the directory's name"),
    ({"entry": "../../bin/sh"}, "entry", ""),
    ({"entry": "missing.sh"}, "entry", "not a file of the plugin's directory"),
    ({"timeout": 0}, "timeout", ""),
    ({"extra": 1}, "", "extra"),
])
def test_a_bad_manifest_is_exit_2_naming_file_and_field(tmp_path, change, field, needle):
    entry = change.pop("entry", "run.sh")
    make(tmp_path, "p1", entry=entry, **change)
    if entry != "run.sh":
        (tmp_path / "p1" / "run.sh").write_text("#!/bin/sh\n")
    with pytest.raises(DrupgradeError) as e:
        find(tmp_path)
    assert e.value.code == EXIT_USAGE
    text = str(e.value)
    assert str(tmp_path / "p1" / "plugin.json") in text and needle in text
    if field:
        assert field in text


def test_an_entry_that_is_not_executable_is_refused(tmp_path):
    make(tmp_path, "p1", executable=False)
    with pytest.raises(DrupgradeError) as e:
        find(tmp_path)
    assert "chmod +x" in str(e.value)


def test_no_plugins_directory_is_no_plugins_unless_one_is_configured(tmp_path):
    assert plugins.find(Cfg(), STEPS, DRP) == [] or os.path.isdir(plugins.directory(Cfg()))
    with pytest.raises(DrupgradeError) as e:
        plugins.find(Cfg(str(tmp_path / "absent")), STEPS, DRP)
    assert e.value.code == EXIT_USAGE and "does not exist" in str(e.value)


def test_what_the_node_gets_and_the_budget_of_a_step(tmp_path):
    make(tmp_path, "a", type="core", timeout=20)
    make(tmp_path, "b", type="third_party", timeout=7, roles=["app", "kmc"])
    a, b = find(tmp_path)
    env = b.node_env(plugins.hidden(Cfg(), product.load("drp")))
    assert env["DR_PLUGIN_TYPE"] == "third_party" and env["DR_PLUGIN_ROLES"] == "app,kmc"
    assert env["DR_PLUGIN_MEMORY_MB"] == "128" and env["DR_PLUGIN_ATTEMPTS"] == "1"
    assert env["DR_PLUGIN_UNCONFINED"] == "no"
    assert env["DR_PLUGIN_HIDE"].split(":") == ["/opt/drupgrade", "/var/lib/drupgrade", "/backup",
                                                "/var/lib/drupgrade/packages", "/etc/drp"]
    # every attempt's timeout and delay (+5 s of its own start and end each): core 3 x (20 + 10 + 5)
    assert plugins.budget([a, b]) == {"db_migrate": 3 * 35 + 1 * (7 + 0 + 5)}


@pytest.mark.parametrize("words, ok", [
    (b"audit 1 0 ok 2048 40 500 ok", True),
    (b"audit 2 137 memory 131072 150 1200 skipped", True),
    (b"audit 1 0 ok 2048 40 500", False),  # a field missing
    (b"audit 1 0 ok 2048 40 500 maybe", False),  # no such outcome
    (b"Audit;rm 1 0 ok 1 1 1 ok", False),  # not a plugin name
    (b"audit 1 300 ok 1 1 1 ok", False),  # rc out of range
    (b"audit x 0 ok 1 1 1 ok", False),
])
def test_a_plugin_marker_is_read_strictly(words, ok):
    if ok:
        rec = engine.plugin_record(words.split())
        assert rec["plugin"] == "audit" and isinstance(rec["peak_memory_kb"], int)
    else:
        with pytest.raises(ValueError):
            engine.plugin_record(words.split())
