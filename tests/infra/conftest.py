"""State checks for a product's install on the lab: options, lab nodes and their roles.

Run: python3 -m pytest tests/infra --drp-version 2.2.0 [--lab-dir DIR] [--hosts node1,node2]
     python3 -m pytest tests/infra --product arc --product-version 2.0.0
A product's checks are tests/infra/test_<product>_state.py with the expected state in
expected.json (drp) or <product>_expected.json; only the chosen product's file is collected (and
a generated test_<product>_<X_Y_Z>_state.py dropped here, for that version only).
The product may also come from PRODUCT (default drp), the version from PRODUCT_VERSION (or
DRP_VERSION), the lab dir from LAB_DIR (default build/lab, or build/lab-$LAB_NAME). Nodes and
roles come from $LAB_DIR/upgrade.ini, ssh from $LAB_DIR/ssh_config (testinfra's ssh backend,
multiplexed).
"""
import configparser
import hashlib
import json
import os
import tempfile

import pytest

try:
    import testinfra
except ImportError:  # tests/prereqs.sh installs it; say so instead of a traceback
    raise pytest.UsageError("tests/infra needs pytest-testinfra: python3 -m pip install pytest-testinfra "
                            "(or tests/prereqs.sh)") from None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))


def expected_file(product):
    return os.path.join(HERE, "expected.json" if product == "drp" else product + "_expected.json")


def pytest_addoption(parser):
    g = parser.getgroup("product", "product state checks")
    g.addoption("--product", default=os.environ.get("PRODUCT", "drp"),
                help="the product whose state to check: tests/infra/test_<product>_state.py (env PRODUCT)")
    g.addoption("--product-version", default=os.environ.get("PRODUCT_VERSION"),
                help="the version every node must run (env PRODUCT_VERSION)")
    g.addoption("--drp-version", default=os.environ.get("DRP_VERSION"),
                help="the drp version every node must run (env DRP_VERSION)")
    g.addoption("--lab-dir", default=None, help="lab dir with upgrade.ini and ssh_config (env LAB_DIR)")


def pytest_ignore_collect(collection_path, config):
    """Only the chosen product's test_<product>_state.py, and the generated checks of the version
    checked, test_<product>_<X_Y_Z>_state.py (`upgrade.sh generate`, docs/framework.md)."""
    name = os.path.basename(str(collection_path))
    product = config.getoption("product")
    version = config.getoption("product_version") or (config.getoption("drp_version") if product == "drp" else "")
    keep = ("test_%s_state.py" % product,
            "test_%s_%s_state.py" % (product, (version or "").lstrip("v").replace(".", "_")))
    return name.startswith("test_") and name.endswith("_state.py") and name not in keep


def pytest_configure(config):
    config.addinivalue_line("markers", "roles(*roles): run on the lab nodes that have any of these roles")


def default_lab_dir():
    if os.environ.get("LAB_DIR"):
        return os.environ["LAB_DIR"]
    name = os.environ.get("LAB_NAME", "drl")
    return os.path.join(REPO, "build", "lab" if name == "drl" else "lab-" + name)


class Node(object):
    """A lab node: name, address, roles, and a testinfra host opened on first use."""
    _hosts = {}

    def __init__(self, name, address, roles, ssh_config):
        self.name, self.address, self.roles, self.ssh_config = name, address, roles, ssh_config

    @property
    def host(self):
        if self.name not in Node._hosts:
            # testinfra multiplexes only when given a ControlPath (no %-tokens: it %-formats
            # the command); one per lab and node, short enough for a unix socket path
            lab = hashlib.sha256(self.ssh_config.encode()).hexdigest()[:10]
            Node._hosts[self.name] = testinfra.get_host(
                "ssh://" + self.name, ssh_config=self.ssh_config,
                controlpath=os.path.join(tempfile.gettempdir(), "drp-ti-%s-%s" % (lab, self.name)))
        return Node._hosts[self.name]

    def has(self, *roles):
        return any(r in self.roles for r in roles)

    def run_ok(self, cmd, *args):
        """Run a command (args quoted by testinfra); fail the test with its output if rc != 0."""
        r = self.host.run(cmd, *args)
        assert r.rc == 0, "%s: `%s` rc=%d\n%s\n%s" % (self.name, r.command, r.rc, r.stdout, r.stderr)
        return r.stdout

    def __repr__(self):
        return self.name


def lab_nodes(config, selected=True):
    """The lab's nodes; selected=True keeps only those named by --hosts (if given)."""
    lab = config.getoption("lab_dir") or default_lab_dir()
    ini = os.path.join(lab, "upgrade.ini")
    if not os.path.exists(ini):
        raise pytest.UsageError("no lab at %s (tests/lab/lab.sh up, or --lab-dir)" % lab)
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(ini)
    wanted = None
    hosts = config.getoption("hosts", default=None) if selected else None
    if hosts:
        spec = ",".join(hosts if isinstance(hosts, list) else [hosts])
        wanted = {h.split("://")[-1].split("?")[0] for h in spec.split(",")}
    nodes = []
    for s in cp.sections():
        if s.startswith("node:") and (wanted is None or s[5:] in wanted):
            roles = [r.strip() for r in cp.get(s, "roles", fallback="").split(",") if r.strip()]
            nodes.append(Node(s[5:], cp.get(s, "host"), roles, os.path.join(lab, "ssh_config")))
    return nodes


def pytest_generate_tests(metafunc):
    if "node" not in metafunc.fixturenames:
        return
    nodes = lab_nodes(metafunc.config)
    marker = metafunc.definition.get_closest_marker("roles")
    if marker:
        nodes = [n for n in nodes if n.has(*marker.args)]
    metafunc.parametrize("node", nodes, ids=[n.name for n in nodes])


@pytest.fixture(scope="session")
def version(pytestconfig):
    v = pytestconfig.getoption("product_version") or (
        pytestconfig.getoption("drp_version") if pytestconfig.getoption("product") == "drp" else None)
    if not v:
        raise pytest.UsageError("give the expected version: --product-version X (or --drp-version X for drp)")
    return v.lstrip("v")


@pytest.fixture(scope="session")
def nodes(pytestconfig):
    """Every node of the lab (also those --hosts leaves out: peers, the DB primary)."""
    return lab_nodes(pytestconfig, selected=False)


def vt(v):
    return tuple(int(p) for p in v.split("."))


@pytest.fixture(scope="session")
def expected(pytestconfig, version):
    """The expected state of the version: its tables, the data manifest, and what every release up
    to it changed ("since": units added to a role, unit lines, config keys present and absent)."""
    path = expected_file(pytestconfig.getoption("product"))
    with open(path) as f:
        data = json.load(f)
    if version not in data["versions"]:
        raise pytest.UsageError("no expected state for %s %s in %s" % (
            pytestconfig.getoption("product"), version, path))
    units, lines, present, absent = {}, {}, set(), set()
    for release in sorted((r for r in data.get("since", {}) if not r.startswith("_")), key=vt):
        if vt(release) > vt(version):
            continue
        change = data["since"][release]
        for role, names in change.get("units", {}).items():
            units.setdefault(role, []).extend(names)
        for unit, text in change.get("unit_lines", {}).items():
            lines.setdefault(unit, []).extend(text)
        present = (present | set(change.get("config_present", []))) - set(change.get("config_absent", []))
        absent = (absent | set(change.get("config_absent", []))) - set(change.get("config_present", []))
    manifest = data.get("local_manifest_sha256") or data.get("store_manifest_sha256")
    return {"tables": data["versions"][version], "manifest": manifest, "units": units, "unit_lines": lines,
            "config_present": sorted(present), "config_absent": sorted(absent)}


@pytest.fixture(scope="session")
def primary(nodes):
    p = [n for n in nodes if n.has("db_primary")]
    if not p:
        pytest.skip("the lab has no db_primary node")
    return p[0]
