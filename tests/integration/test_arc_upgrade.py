"""The second product arc upgraded and rolled back on the lab by its data alone (products/arc/,
issue 14): arc 1.0.0 installed by tests/lab/install.sh --product arc (the lab's upgrade.ini then
names arc), its own precheck checks run, upgraded progressively to 2.0.0 through 1.1.0 (the plan
names arc's strategies, its state checks pass at 2.0.0), rolled back by rollback_tool to exactly
the state of 1.0.0, then upgraded again in one hop. At the end arc leaves the lab and its
upgrade.ini points at drp again (install.sh --product arc --uninstall), so the other modules find
drp's lab."""
import os
import sys

import pytest
from labtools import EXACT, TOP, Controller, exact_state_env, node_names, sh, ssh

pytestmark = pytest.mark.usefixtures("lab")
INSTALL = os.path.join(TOP, "tests", "lab", "install.sh")

# exact_state.sh for arc: the catalog's journal comes and goes while the gateway records the
# workers' reports; the store's manifest stands for its files.
ENV = exact_state_env("arc", PRODUCT_DATA_SKIP="catalog.db-journal",
                      PRODUCT_DATA_MANIFEST="/var/lib/arc/store/MANIFEST.sha256")
# What arc's catalog and store hold beyond the files: the seed tables' checksums (arc-db), the
# catalog's schema and its recorded migrations, the store against its manifest, the version.
ARC_STATE = r"""
set -u
echo "version $(cat /opt/arc/VERSION)"
echo "store $(/opt/arc/bin/arc-seed verify-store >/dev/null 2>&1 && echo ok || echo BAD)"
if [ -f /var/lib/arc/catalog.db ]; then
  echo "catalog $(/opt/arc/bin/arc-db checksum | tr '\n' ' ')"
  echo "schema $(python3 -c 'import sqlite3
c = sqlite3.connect("file:/var/lib/arc/catalog.db?mode=ro", uri=True)
for q in ("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
          "SELECT * FROM schema_version ORDER BY 1"):
    for row in c.execute(q):
        print(row)' | sha256sum | cut -c1-16)"
fi
"""


class Rollback(Controller):
    tool = os.path.join(TOP, "bin", "rollback_tool")


def snapshot():
    with open(EXACT, encoding="utf-8") as f:
        script = ENV + f.read()
    return {n: ssh(n, script).stdout + ssh(n, ARC_STATE).stdout for n in node_names()}


def diff(a, b):
    out = []
    for node in sorted(set(a) | set(b)):
        la, lb = a[node].splitlines(), b[node].splitlines()
        out += ["%s: - %s" % (node, x) for x in la if x not in lb]
        out += ["%s: + %s" % (node, x) for x in lb if x not in la]
    return "\n".join(out)


def state_checks(lab, version):
    """arc's own state checks (tests/infra --product arc)."""
    p = sh(sys.executable, "-m", "pytest", os.path.join(TOP, "tests", "infra"), "-q", "-p", "no:cacheprovider",
           "--product", "arc", "--product-version", version, "--lab-dir", lab.dir, check=False, env=lab.env)
    assert p.returncode == 0, "arc's state checks at %s failed:\n%s" % (version, p.stdout[-8000:])


@pytest.fixture(scope="module")
def arc(lab, tmp_path_factory):
    """arc 1.0.0 on the lab, its exact state, one controller state dir for upgrades and rollbacks."""
    sh(INSTALL, "--product", "arc", "1.0.0", env=lab.env)
    try:
        tmp = tmp_path_factory.mktemp("arc")
        upgrade = Controller(tmp)
        rollback = Rollback(tmp)
        rollback.config = upgrade.config
        yield {"before": snapshot(), "upgrade": upgrade, "rollback": rollback}
    finally:
        sh(INSTALL, "--product", "arc", "--uninstall", env=lab.env)


def test_the_precheck_runs_arcs_own_checks(arc):
    """products/arc/checks/ run beside the tool's: a catalog 2.0.0 would not find stops the upgrade
    before anything is touched (ARC_DB other than the default on one node)."""
    ssh("node3", "cp -p /etc/arc/arc.env /root/arc.env.saved && "
                 "sed -i 's|^ARC_DB=.*|ARC_DB=/srv/elsewhere.db|' /etc/arc/arc.env")
    try:
        out = arc["upgrade"]("precheck", "--to", "2.0.0", expect=3)
    finally:
        ssh("node3", "mv /root/arc.env.saved /etc/arc/arc.env")
    assert "[FAIL] node3 layout: arc's layout does not allow the upgrade: ARC_DB=/srv/elsewhere.db" in out
    assert "nothing was changed on any node" in out and "FAIL] node1" not in out and "FAIL] node2" not in out
    assert arc["upgrade"]("precheck", "--to", "2.0.0").count("layout ") == 1


def test_progressive_upgrade_to_2_0_0_then_rollback_to_exactly_1_0_0(lab, arc):
    up, rb = arc["upgrade"], arc["rollback"]
    plan = up.json("plan", "--to", "2.0.0", "--mode", "progressive")["upgrade_plan"]
    assert plan["path"] == ["v1.0.0", "v1.1.0", "v2.0.0"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["arc_v1_minor", "arc_to_v2"]
    bound = {s["step"]: s["component"] for s in plan["steps"]}
    assert bound["db_migrate"] == "business/data_migration" and bound["config_pre"] == "service/config"
    assert bound["backup_db"] is None and bound["start_etcd"] is None and bound["import_db"] is None
    up("run", "--to", "2.0.0", "--mode", "progressive")
    assert up.journal()["hops"] == [["1.0.0", "1.1.0"], ["1.1.0", "2.0.0"]]
    state_checks(lab, "2.0.0")
    # The catalog was migrated on the gateway only; the config was mapped by the controller.
    assert "buckets" in ssh("node1", "/opt/arc/bin/arc-db checksum").stdout
    assert ssh("node2", "test -e /var/lib/arc/catalog.db", check=False).returncode != 0

    first = up.journal()["hop_info"]["hop1"]["backup_id"]
    out = rb("--yes", "auto", first)
    assert "complete: every node is back at 1.0.0" in out
    now = snapshot()
    assert now == arc["before"], "the nodes differ from arc 1.0.0 before the upgrade:\n" + diff(arc["before"], now)
    state_checks(lab, "1.0.0")


def test_jump_upgrade_from_1_0_0_to_2_0_0(lab, arc):
    up = arc["upgrade"]
    plan = up.json("plan", "--to", "2.0.0", "--mode", "jump")["upgrade_plan"]
    assert [h["strategy_id"] for h in plan["hops"]] == ["arc_1_0_to_v2"]
    up("run", "--to", "2.0.0", "--mode", "jump")
    assert up.journal()["hops"][-1] == ["1.0.0", "2.0.0"]
    state_checks(lab, "2.0.0")
