"""The second product arc as data (products/arc/): every hop of its matrix resolves to its own
strategy (upgrade.sh strategies --check), each strategy fills the engine's steps it needs (and
rollback_tool's) and leaves the others empty (no MariaDB, no etcd, no key service), and its config mapping (env format)
takes arc's real 1.0.0 file, as a fresh install of the 1.0.0 package writes it, to exactly what a
fresh 2.0.0 install writes: in one hop and through 1.1.0, which arc-config of the target agrees
with."""
import os
import subprocess
import sys

import pytest

from drupgrade import configmap, product, strategies

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = strategies.engine_steps(TOP)
HOPS = {("1.0.0", "1.1.0"): "arc_v1_minor", ("1.1.0", "2.0.0"): "arc_to_v2", ("1.0.0", "2.0.0"): "arc_1_0_to_v2"}
TOPOLOGY = ('{"cluster": "t", "nodes": {"node1": {"address": "10.9.9.11", "roles": ["gateway", "worker"]},'
            ' "node2": {"address": "10.9.9.12", "roles": ["worker"]}}, "secrets": {"token": "tk"}}')


def bindings(src, dst):
    cat = strategies.catalog("arc", TOP)
    return cat.bindings(cat.select(src, dst), src, dst)


def test_strategies_check_resolves_every_arc_hop_to_its_strategy():
    found = {(s, d): sid for p, s, d, sid in strategies.check(STEPS) if p == "arc"}
    assert found == HOPS
    matrix = product.load("arc").matrix()
    assert sorted(found) == sorted((s, d) for s in matrix.rows for d in matrix.direct(s))
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    cfg = os.path.join(TOP, "conf", "upgrade.ini.example")
    r = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", "en", "--config", cfg,
                        "strategies", "--check"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert r.returncode == 0, r.stderr
    for (src, dst), sid in HOPS.items():
        assert any(line.split()[:5] == ["arc", "v" + src, "->", "v" + dst, sid] for line in r.stdout.splitlines()), \
            r.stdout


@pytest.mark.parametrize("src, dst", sorted(HOPS))
def test_each_hop_fills_only_the_steps_arc_needs(src, dst):
    b = bindings(src, dst)
    assert sorted(k for k in b if b[k].phase != "rollback") == [
        "backup_local", "check_services", "config_post", "config_pre", "db_migrate", "delete_services", "install",
        "start_services", "stop_services", "unzip"]
    assert sorted(k for k in b if b[k].phase == "rollback") == [  # no rollback_db: no database server
        "rollback_config", "rollback_program", "rollback_start", "rollback_stop", "rollback_verify"]
    assert b["install"].params["link"] == "/opt/arc"
    assert b["install"].params["new_release"] == "/opt/arc-releases/" + dst
    assert b["db_migrate"].params["run"] == "/opt/arc/bin/arc-migrate"
    assert b["db_migrate"].component == "business/data_migration"  # no catalog row lost (arc-db checksum)
    assert b["db_migrate"].params["records"] == "/opt/arc/bin/arc-db checksum"
    assert product.load("arc").step_roles == {"db_migrate": ["gateway"]}  # the catalog is on the gateway only
    assert [m["set"]["ARC_VERSION"] for m in b["config_pre"].mapping][-1] == dst


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """arc's packages of every release, unpacked (packaging/arc/build.sh)."""
    out = tmp_path_factory.mktemp("arc")
    build = os.path.join(TOP, "packaging", "arc", "build.sh")
    r = subprocess.run([build, str(out / "pkgs"), "1.0.0", "1.1.0", "2.0.0"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout
    for v in ("1.0.0", "1.1.0", "2.0.0"):
        subprocess.run(["tar", "-C", str(out), "-xzf", str(out / "pkgs" / ("arc-%s.tar.gz" % v))], check=True)
    (out / "topology.json").write_text(TOPOLOGY)
    return out


def arc_config(packages, version, etc, *args):
    env = dict(os.environ, ARC_ETC=str(etc))
    return subprocess.run([str(packages / ("arc-" + version) / "bin" / "arc-config")] + list(args), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def fresh(packages, version, node, tmp_path):
    """/etc/arc/arc.env as a fresh install of `version` writes it on `node`."""
    etc = tmp_path / ("fresh-%s-%s" % (version, node))
    r = arc_config(packages, version, etc, "configure", "--topology", str(packages / "topology.json"), "--node", node)
    assert r.returncode == 0, r.stderr
    return (etc / "arc.env").read_text()


@pytest.mark.parametrize("node", ["node1", "node2"])
def test_the_env_mapping_takes_a_real_1_0_0_file_to_a_fresh_2_0_0_file(packages, tmp_path, node):
    old = fresh(packages, "1.0.0", node, tmp_path)
    assert "ARC_POLL_SECONDS=5\n" in old and "ARC_DB=/var/lib/arc/catalog.db\n" in old
    jump = configmap.convert(old, bindings("1.0.0", "2.0.0")["config_pre"].mapping, node)
    mid = configmap.convert(old, bindings("1.0.0", "1.1.0")["config_pre"].mapping, node)
    assert mid == fresh(packages, "1.1.0", node, tmp_path)
    progressive = configmap.convert(mid, bindings("1.1.0", "2.0.0")["config_pre"].mapping, node)
    new = fresh(packages, "2.0.0", node, tmp_path)
    assert jump == progressive == new
    assert "ARC_DB" not in new and "ARC_WORKER_INTERVAL=5\n" in new and "ARC_DATA_DIR=/var/lib/arc\n" in new
    # what config_post runs after the install: the target's own arc-config finds nothing to change
    etc = tmp_path / "mapped"
    etc.mkdir()
    (etc / "arc.env").write_text(jump)
    assert arc_config(packages, "2.0.0", etc, "upgrade", "--check").returncode == 0
    (etc / "arc.env").write_text(old)
    assert arc_config(packages, "2.0.0", etc, "upgrade", "--check").returncode == 1  # the check can fail
