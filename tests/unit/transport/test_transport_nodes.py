"""`upgrade.sh nodes` against the private sshd: one node reachable, one not."""
import json
import os
import re
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
    assert good["host_key_state"] == "new" and gone["host_key_state"] is None  # learned at this first contact
    # good and pw are one sshd: whichever reaches it first learns (and logs) its key
    assert re.search(r"learned host key of node (good|pw): " + re.escape(good["host_key"]), p.stderr)
    assert good["version"] is None  # no /opt/drp/VERSION on this server
    assert pw["ok"] and pw["auth_method"] == "password"
    assert not gone["ok"] and "gone" in gone["error"] and "not recoverable" in gone["error"]
    assert TEST_PASSWORD not in p.stdout + p.stderr
    assert good["roles"] == ["etcd", "app"] and gone["roles"] == ["app"]
    # the same data as a table like status's: a line per node in aligned columns, then its host key
    # and what is wrong; --json given before the command gives the same rows
    for lang, head, failed in (("en", "node       address", "failed"), ("zh", "节点", "失败")):
        text = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--config", ini, "nodes", "--lang",
                               lang], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              universal_newlines=True, timeout=120)
        assert text.returncode == 1, text.stderr
        lines = text.stdout.splitlines()
        assert lines[0].startswith("  " + head), lines
        row = {ln.split()[0]: ln for ln in lines[1:] if not ln.startswith("    ")}
        assert set(row) == {"good", "pw", "gone"}
        assert row["good"].split()[1:4] == ["127.0.0.1:%d" % sshd.port, "etcd,app", "-"]
        assert row["gone"].split()[-1] == failed and row["good"].split()[-1] != failed
        columns = [lines[0].index(h) for h in lines[0].split()[1:3]] if lang == "en" else []
        for ln in row.values():  # aligned: every row's address and roles start under their headers
            assert [ln.index(c) for c in ln.split()[1:3]] == columns or lang == "zh"
        assert "gone" in text.stdout.split(row["gone"], 1)[1] and TEST_PASSWORD not in text.stdout
    before = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--json", "--config", ini, "nodes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True,
                            timeout=120)
    assert [r["node"] for r in json.loads(before.stdout)["nodes"]] == [r["node"] for r in out["nodes"]]


def test_accept_new_key_wants_the_expected_fingerprint(tmp_path, sshd):
    """--accept-new-key through the command: a wrong fingerprint is exit 2, no fingerprint on a
    non-tty is exit 4 even with --yes, the right one records the key and nodes says 'recorded'."""
    from drupgrade.transport import hostkeys
    from drupgrade.transport.policy import Endpoint
    ini = _ini(tmp_path, sshd, free_port())
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"))

    def tool(*args):
        return subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", "en", "--config", ini] +
                              list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, universal_newlines=True, timeout=120)

    kh = str(tmp_path / "state" / "known_hosts")
    offered = hostkeys.offered_keys(Endpoint("good", "127.0.0.1", sshd.port))[0][1]
    p = tool("nodes", "--accept-new-key", "good", "--fingerprint", "SHA256:" + "A" * 43)
    assert p.returncode == 2 and offered in p.stderr and "SHA256:" + "A" * 43 in p.stderr, p.stderr
    assert "nothing was recorded" in p.stderr
    for extra in ([], ["--yes"]):
        p = tool(*(extra + ["nodes", "--accept-new-key", "good"]))
        assert p.returncode == 4 and "confirmation needed" in p.stderr and "--fingerprint" in p.stderr, p.stderr
    assert not os.path.exists(kh) or "127.0.0.1" not in open(kh).read()
    assert tool("nodes", "--fingerprint", offered).returncode == 2
    p = tool("nodes", "--accept-new-key", "good", "--fingerprint", offered)
    assert p.returncode == 0 and "host key now recorded: ssh-ed25519 " + offered in p.stdout, p.stderr
    p = tool("--json", "nodes")
    rows = {r["node"]: r for r in json.loads(p.stdout)["nodes"]}
    assert rows["good"]["host_key_state"] == "recorded" and rows["good"]["host_key"] == "ssh-ed25519 " + offered
