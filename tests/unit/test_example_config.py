"""conf/upgrade.ini.example is valid and documents every key of the schema."""
import os
import re
import shutil

from drupgrade import config

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(TOP, "conf", "upgrade.ini.example")


def test_example_loads(tmp_path):
    path = str(tmp_path / "upgrade.ini")
    shutil.copy(EXAMPLE, path)
    os.chmod(path, 0o600)
    cfg = config.load(path)
    assert [n.name for n in cfg.nodes] == ["node1", "node2", "node3"]


def test_example_mentions_every_key():
    text = open(EXAMPLE, encoding="utf-8").read()
    keys = set(re.findall(r"^#? ?([a-z_]+) =", text, re.M))
    schema = config.load_schema("upgrade_ini")
    for section, spec in schema["properties"].items():
        if section == "nodes":
            spec = spec["additionalProperties"]
        for key in spec.get("properties", {}):
            assert key in keys, "[%s] %s is not documented in the example" % (section, key)
