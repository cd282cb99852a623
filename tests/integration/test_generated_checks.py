"""The generated state checks test something (issue 15): the module generator/checks.py writes for a
product's newest release passes on the lab at that release and fails at the release before it, and
the failures are the checks the release changed. drp: 2.3.0 against 2.2.0; arc: 2.0.0 against 1.1.0
(installed by tests/lab/install.sh --product arc, uninstalled at the end so the lab points at drp
again). Installs only, no upgrade run. The modules are run as an engineer runs them:
`python3 -m pytest DIR/checks --lab-dir LAB_DIR` (their conftest lends them tests/infra's fixtures).
What the analysis says of the new package is tests/fixtures/generator/analysis.json (analyze's result).
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from labtools import TOP, sh

sys.path.insert(0, os.path.join(TOP, "lib", "python"))
from drupgrade import product  # noqa: E402
from drupgrade.generator import checks  # noqa: E402

pytestmark = pytest.mark.usefixtures("lab")
INSTALL = os.path.join(TOP, "tests", "lab", "install.sh")
NODE_CHECKS = {"test_version_file", "test_files", "test_units_active", "test_listening_ports",
               "test_config_keys", "test_schema_version"}
with open(os.path.join(TOP, "tests", "fixtures", "generator", "analysis.json"), encoding="utf-8") as _f:
    ANALYSIS = json.load(_f)


class Source:
    """The opened new package as generator/source.py gives it: root, version, product, manifest, hints."""

    def __init__(self, root, version, name):
        self.root, self.version, self.product = root, version, product.load(name)
        with open(os.path.join(root, "MANIFEST.sha256"), encoding="utf-8") as f:
            self.manifest = {p: d for d, p in (line.split("  ", 1) for line in f.read().splitlines())}
        with open(os.path.join(self.product.dir, "generator.json"), encoding="utf-8") as f:
            self.hints = json.load(f)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """The packages built from the current sources (reproducible: those of build/packages), the
    newest of each product unpacked."""
    out = tmp_path_factory.mktemp("packages")
    for name, versions in (("drp", ("2.2.0", "2.3.0")), ("arc", ("1.1.0", "2.0.0"))):
        sh(os.path.join(TOP, "packaging", name, "build.sh"), str(out), *versions, timeout=300)
        sh("tar", "-C", str(out), "-xzf", str(out / ("%s-%s.tar.gz" % (name, versions[1]))))
    return out


def generated(packages, tmp_path, name, version):
    """Write the version's checks; their directory."""
    source = Source(str(packages / ("%s-%s" % (name, version))), version, name)
    written = checks.write(str(tmp_path / "out"), ANALYSIS[name], source)
    assert [t for _, t in written] == [[], []], written  # nothing left to decide for drp and arc
    return os.path.dirname(written[0][0])


def run_checks(lab, directory, report):
    """{test name without its node: {node or '': passed?}} of one run of the generated module."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", directory,
                        "--lab-dir", lab.dir, "--junitxml", report], cwd=TOP, env=lab.env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name, _, node = case.get("name").partition("[")
        ok = case.find("failure") is None and case.find("error") is None and case.find("skipped") is None
        results.setdefault(name, {})[node.rstrip("]")] = ok
    assert results, p.stdout[-4000:]
    return p.returncode, results, p.stdout


def install(lab, packages, *args):
    sh(INSTALL, "--no-build", *args, env=dict(lab.env, DRP_PACKAGES=str(packages)), timeout=900)


def failing(results):
    return {name for name, nodes in results.items() if not all(nodes.values())}


def test_drp_2_3_0_checks_pass_at_2_3_0_and_fail_at_2_2_0(lab, packages, tmp_path):
    directory = generated(packages, tmp_path, "drp", "2.3.0")
    install(lab, packages, "2.3.0")
    rc, results, out = run_checks(lab, directory, str(tmp_path / "at-2.3.0.xml"))
    assert rc == 0 and failing(results) == set(), out[-8000:]
    assert NODE_CHECKS | {"test_nothing_left_undecided"} == set(results)
    assert set(results["test_schema_version"]) == {"node1", "node2"}  # the db nodes
    install(lab, packages, "2.2.0")
    rc, results, out = run_checks(lab, directory, str(tmp_path / "at-2.2.0.xml"))
    # every check of a node fails at 2.2.0 on every node it runs on: the version file and the
    # files (another release), drp-events inactive and its port 8091 not configured on the app
    # nodes (all three), kmc.endpoint and events.* missing, kmc.url still there, the schema at 2.2.0
    assert rc == 1 and failing(results) == NODE_CHECKS, out[-8000:]
    assert all(not ok for name in NODE_CHECKS for ok in results[name].values()), results
    assert "drp-events.service" in out and "events.port" in out and "kmc.url" in out


def test_arc_2_0_0_checks_pass_at_2_0_0_and_fail_at_1_1_0(lab, packages, tmp_path):
    directory = generated(packages, tmp_path, "arc", "2.0.0")
    try:
        install(lab, packages, "--product", "arc", "2.0.0")
        rc, results, out = run_checks(lab, directory, str(tmp_path / "at-2.0.0.xml"))
        assert rc == 0 and failing(results) == set(), out[-8000:]
        assert list(results["test_schema_version"]) == ["node1"]  # the gateway
        install(lab, packages, "--product", "arc", "1.1.0")
        rc, results, out = run_checks(lab, directory, str(tmp_path / "at-1.1.0.xml"))
        # 2.0.0 changed the files, the keys (ARC_DATA_DIR added, ARC_DB removed) and the catalog's
        # schema; its units and ports are 1.1.0's, so those checks pass at 1.1.0 too
        assert rc == 1 and failing(results) == {"test_version_file", "test_files", "test_config_keys",
                                                "test_schema_version"}, out[-8000:]
        assert "ARC_DATA_DIR" in out and "ARC_DB" in out
    finally:
        install(lab, packages, "--product", "arc", "--uninstall")
