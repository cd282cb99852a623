"""`upgrade.sh nodes` against the private sshd: one node reachable, one not."""
import json
import os
import subprocess
import sys

from sshd_server import TEST_PASSWORD, TEST_USER, free_port

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _ini(tmp_path, sshd, dead_port):
    ini = tmp_path / "upgrade.ini"
    ini.write_text("\n".join([
        "[ssh_config]", "username = %s" % TEST_USER, "password = %s" % TEST_PASSWORD, "port = %d" % sshd.port,
        "", "[node:good]", "host = 127.0.0.1", "roles = etcd, app", "private_key_path = %s" % sshd.client_key,
        # The same sshd under another name: two nodes on one host:port are refused.
        "", "[node:pw]", "host = localhost", "roles = app",
        "", "[node:gone]", "host = 127.0.0.1", "roles = app", "port = %d" % dead_port,
        "", "[paths]", "state_dir = %s" % (tmp_path / "state"), ""]))
    os.chmod(str(ini), 0o600)
    return str(ini)


def test_nodes_reports_every_node_and_fails_for_the_unreachable_one(tmp_path, sshd):
    ini = _ini(tmp_path, sshd, free_port())
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"))
    p = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--config", ini, "nodes", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True,
                       timeout=120)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    rows = {r["node"]: r for r in out["nodes"]}
    good, pw, gone = rows["good"], rows["pw"], rows["gone"]
    assert good["ok"] and good["scp"] and good["sftp"] and good["auth_method"] == "key"
    assert good["host_key"].startswith("ssh-ed25519 SHA256:") and good["latency_ms"] > 0
    assert good["version"] is None  # no /opt/drp/VERSION on this server
    assert pw["ok"] and pw["auth_method"] == "password"
    assert not gone["ok"] and "gone" in gone["error"] and "not recoverable" in gone["error"]
    assert TEST_PASSWORD not in p.stdout + p.stderr
