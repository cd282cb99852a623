"""The generator's draft upgrades the lab and its generated state checks test something (issue 15):
drp 2.2.0 is upgraded to 2.3.0 once by a copy of the tool whose products/drp/ holds the draft of
`upgrade.sh generate` (its TODOs decided as GENERATED.md lists them: the draft's values kept) in
place of the hand-written 2.3.0 strategies. The plan names the drafted strategy and binds what it
drafted, the state checks of 2.3.0 pass, drp-events runs on the app nodes and the config has the
renamed key and not the removed one. The draft's own state checks (checks/, generator/checks.py)
run as an engineer runs them (`python3 -m pytest DIR/checks --lab-dir LAB_DIR`) fail on the lab at
2.2.0, before the run, on what 2.3.0 changed, and pass after it. The same for arc's newest hop,
1.1.0 -> 2.0.0 (arc then leaves the lab, as in test_arc_upgrade.py)."""
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from labtools import TOP, UPGRADE, Controller, install, sh, ssh, state_check

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from drafts import drop_in, resolve  # noqa: E402

pytestmark = pytest.mark.usefixtures("lab")
PACKAGES = os.path.join(TOP, "build", "packages")
INSTALL = os.path.join(TOP, "tests", "lab", "install.sh")
# What the copy of the tool needs: its code and data, the node bundle and catalogs, the venv's requirements.
TOOL = ("bin", "lib", "scripts", "templates", "conf", "products", "po", "packaging/wheels", "build/dist",
        "build/locale")
NODE_CHECKS = {"test_version_file", "test_files", "test_units_active", "test_listening_ports",
               "test_config_keys", "test_schema_version"}


def tool_with(draft, tree, name, target):
    """A copy of the tool whose products/<name>/ has the draft in place of the strategies into target."""
    for rel in TOOL:
        shutil.copytree(os.path.join(TOP, rel), os.path.join(tree, rel), symlinks=True)
    drop_in(draft, os.path.join(tree, "products"), name, target)
    return os.path.join(tree, "bin", "upgrade.sh")


def run_checks(lab, draft, report):
    """(exit code, {test name without its node: {node or '': passed?}}, output) of one run of the
    draft's generated state checks against the lab."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(draft, "checks"),
                        "--lab-dir", lab.dir, "--junitxml", report], cwd=TOP, env=lab.env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name, _, node = case.get("name").partition("[")
        ok = case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
        results.setdefault(name, {})[node.rstrip("]")] = ok
    assert results, p.stdout[-4000:]
    return p.returncode, results, p.stdout


def failing(results):
    return {name for name, nodes in results.items() if not all(nodes.values())}


def upgrade_with_draft(lab, tmp, name, old, new, install):
    """The draft of name old -> new, its TODOs decided, its checks run at old, one run old -> new
    with it on the lab, its checks run at new."""
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
        before = run_checks(lab, draft, str(tmp / "checks-at-old.xml"))
        up = Controller(tmp)  # after the install: the lab's upgrade.ini names the product
        up.tool = tool_with(draft, str(tmp / "tool"), name, new)
        plan = up.json("plan", "--to", new)["upgrade_plan"]
        up("run", "--to", new)
        after = run_checks(lab, draft, str(tmp / "checks-at-new.xml"))
    finally:
        if venv is None:
            os.environ.pop("DRUPGRADE_VENV", None)
        else:
            os.environ["DRUPGRADE_VENV"] = venv
    return {"todos": todos, "decided": decided, "plan": plan, "up": up, "before": before, "after": after}


@pytest.fixture(scope="module")
def drafted(lab, tmp_path_factory):
    return upgrade_with_draft(lab, tmp_path_factory.mktemp("generated"), "drp", "2.2.0", "2.3.0",
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


def test_the_drafts_state_checks_fail_at_2_2_0_and_pass_at_2_3_0(drafted):
    rc, results, out = drafted["after"]
    assert rc == 0 and failing(results) == set(), out[-8000:]
    assert NODE_CHECKS | {"test_nothing_left_undecided"} == set(results)
    assert set(results["test_schema_version"]) == {"node1", "node2"}  # the db nodes
    rc, results, out = drafted["before"]
    # every check of a node fails at 2.2.0 on every node it runs on: the version file and the
    # files (another release), drp-events inactive and its port 8091 not configured on the app
    # nodes (all three), kmc.endpoint and events.* missing, kmc.url still there, the schema at 2.2.0
    assert rc == 1 and failing(results) == NODE_CHECKS, out[-8000:]
    assert all(not ok for name in NODE_CHECKS for ok in results[name].values()), results
    assert "drp-events.service" in out and "events.port" in out and "kmc.url" in out


def test_arcs_draft_with_its_todos_decided_upgrades_1_1_0_to_2_0_0(lab, tmp_path):
    try:
        done = upgrade_with_draft(lab, tmp_path, "arc", "1.1.0", "2.0.0",
                                  lambda: sh(INSTALL, "--product", "arc", "1.1.0", env=lab.env))
        assert done["decided"] == len(done["todos"]) > 0
        assert [h["strategy_id"] for h in done["plan"]["hops"]] == ["arc_v1_0_0_to_v2_0_0"]
        assert done["up"].journal()["hops"] == [["1.1.0", "2.0.0"]]
        p = sh(sys.executable, "-m", "pytest", os.path.join(TOP, "tests", "infra"), "-q", "-p", "no:cacheprovider",
               "--product", "arc", "--product-version", "2.0.0", "--lab-dir", lab.dir, check=False, env=lab.env)
        assert p.returncode == 0, "arc's state checks at 2.0.0 failed:\n" + p.stdout[-8000:]
        assert "buckets" in ssh("node1", "/opt/arc/bin/arc-db checksum").stdout
        rc, results, out = done["after"]  # the draft's state checks at 2.0.0
        assert rc == 0 and failing(results) == set(), out[-8000:]
        assert list(results["test_schema_version"]) == ["node1"]  # the gateway
        rc, results, out = done["before"]  # at 1.1.0
        # 2.0.0 changed the files, the keys (ARC_DATA_DIR added, ARC_DB removed) and the catalog's
        # schema; its units and ports are 1.1.0's, so those checks pass at 1.1.0 too
        assert rc == 1 and failing(results) == {"test_version_file", "test_files", "test_config_keys",
                                                "test_schema_version"}, out[-8000:]
        assert "ARC_DATA_DIR" in out and "ARC_DB" in out
    finally:
        sh(INSTALL, "--product", "arc", "--uninstall", env=lab.env)
