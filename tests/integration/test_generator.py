"""The generator's draft upgrades the lab (issue 15): drp 2.2.0 is upgraded to 2.3.0 once by a copy
of the tool whose products/drp/ holds the draft of `upgrade.sh generate` (its TODOs decided as
GENERATED.md lists them: the draft's values kept) in place of the hand-written 2.3.0 strategies. The
plan names the drafted strategy and binds what it drafted, the state checks of 2.3.0 pass, drp-events
runs on the app nodes and the config has the renamed key and not the removed one. The same for
arc's newest hop, 1.1.0 -> 2.0.0 (arc then leaves the lab, as in test_arc_upgrade.py)."""
import json
import os
import shutil
import sys

import pytest
from labtools import TOP, UPGRADE, Controller, install, sh, ssh, state_check

pytestmark = pytest.mark.usefixtures("lab")
PACKAGES = os.path.join(TOP, "build", "packages")
INSTALL = os.path.join(TOP, "tests", "lab", "install.sh")
# What the copy of the tool needs: its code and data, the node bundle and catalogs, the venv's requirements.
TOOL = ("bin", "lib", "scripts", "templates", "conf", "products", "po", "packaging/wheels", "build/dist",
        "build/locale")


def resolve(draft):
    """Every TODO decided as the draft has it (its value kept, the TODO list removed): how many."""
    n = 0
    for root, _dirs, names in os.walk(draft):
        for name in names:
            path = os.path.join(root, name)
            if name.endswith(".json") and name != "GENERATED.json":
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                n += len(data.pop("TODO", []))
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=2)
    return n


def tool_with(draft, tree, name, target):
    """A copy of the tool whose products/<name>/ has the draft in place of the strategies into target."""
    for rel in TOOL:
        shutil.copytree(os.path.join(TOP, rel), os.path.join(tree, rel), symlinks=True)
    pdir = os.path.join(tree, "products", name)
    for name in os.listdir(os.path.join(pdir, "strategies")):
        with open(os.path.join(pdir, "strategies", name), encoding="utf-8") as f:
            s = json.load(f)["upgrade_strategy"]
        if s["applicable_versions"]["target_range"] == ["v" + target, "v" + target]:
            os.unlink(os.path.join(pdir, "strategies", name))
    for root, _dirs, names in os.walk(draft):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), draft)
            os.makedirs(os.path.dirname(os.path.join(pdir, rel)), exist_ok=True)
            shutil.copy(os.path.join(root, name), os.path.join(pdir, rel))
    return os.path.join(tree, "bin", "upgrade.sh")


def upgrade_with_draft(tmp, name, old, new, install):
    """The draft of name old -> new, its TODOs decided, and one run old -> new with it on the lab."""
    draft = str(tmp / "draft")
    sh(UPGRADE, "--lang", "en", "generate", "--product", name,
       "--from", os.path.join(PACKAGES, "%s-%s.tar.gz" % (name, old)),
       "--to", os.path.join(PACKAGES, "%s-%s.tar.gz" % (name, new)), "--out", draft)
    with open(os.path.join(draft, "GENERATED.json"), encoding="utf-8") as f:
        todos = json.load(f)["todos"]
    decided = resolve(draft)
    venv = os.environ.get("DRUPGRADE_VENV")
    os.environ["DRUPGRADE_VENV"] = os.path.join(TOP, "build", "venv")  # the copy uses this tree's venv
    try:
        install()
        up = Controller(tmp)  # after the install: the lab's upgrade.ini names the product
        up.tool = tool_with(draft, str(tmp / "tool"), name, new)
        plan = up.json("plan", "--to", new)["upgrade_plan"]
        up("run", "--to", new)
    finally:
        if venv is None:
            os.environ.pop("DRUPGRADE_VENV", None)
        else:
            os.environ["DRUPGRADE_VENV"] = venv
    return {"todos": todos, "decided": decided, "plan": plan, "up": up}


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    return upgrade_with_draft(tmp_path_factory.mktemp("generated"), "drp", "2.2.0", "2.3.0",
                              lambda: install("2.2.0"))


def test_the_draft_with_its_todos_decided_upgrades_2_2_0_to_2_3_0(drafted):
    assert drafted["decided"] == len(drafted["todos"]) > 0
    plan = drafted["plan"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["drp_v2_0_0_to_v2_3_0"]
    bound = {s["step"]: s["component"] for s in plan["steps"]}
    assert bound["config_pre"] == "service/config" and bound["check_services"] == "service/monitor"
    assert drafted["up"].journal()["hops"] == [["2.2.0", "2.3.0"]]
    state_check("2.3.0")
    out = ssh("node1", "/opt/drp/bin/drp-config get kmc.endpoint && ! /opt/drp/bin/drp-config get kmc.url && "
                       "! /opt/drp/bin/drp-config get app.max_threads && systemctl is-active drp-events.service",
              check=False)
    assert out.returncode == 0 and out.stdout.split()[-1] == "active", out.stdout


def test_arcs_draft_with_its_todos_decided_upgrades_1_1_0_to_2_0_0(lab, tmp_path):
    try:
        done = upgrade_with_draft(tmp_path, "arc", "1.1.0", "2.0.0",
                                  lambda: sh(INSTALL, "--product", "arc", "1.1.0", env=lab.env))
        assert done["decided"] == len(done["todos"]) > 0
        assert [h["strategy_id"] for h in done["plan"]["hops"]] == ["arc_v1_0_0_to_v2_0_0"]
        assert done["up"].journal()["hops"] == [["1.1.0", "2.0.0"]]
        p = sh(sys.executable, "-m", "pytest", os.path.join(TOP, "tests", "infra"), "-q", "-p", "no:cacheprovider",
               "--product", "arc", "--product-version", "2.0.0", "--lab-dir", lab.dir, check=False, env=lab.env)
        assert p.returncode == 0, "arc's state checks at 2.0.0 failed:\n" + p.stdout[-8000:]
        assert "buckets" in ssh("node1", "/opt/arc/bin/arc-db checksum").stdout
    finally:
        sh(INSTALL, "--product", "arc", "--uninstall", env=lab.env)
