"""drupgrade.transport.relay: the plan (which node relays, who falls back to direct upload and why),
the run key's authorized_keys line and its removal, and the relay's own sender script (run here with
an ssh stand-in that runs the remote command locally)."""
import hashlib
import logging
import os
import shlex
import stat
import subprocess
import threading

import pytest

from drupgrade.transport import relay
from drupgrade.transport.failures import TransferFailed
from drupgrade.transport.quoting import UnsafeValue
from drupgrade.transport.result import CommandResult
from drupgrade.transport.transfer import TransferResult


class Node:
    def __init__(self, name, host, port=22):
        self.name, self.host, self.port, self.username = name, host, port, "root"


class Settings:
    def __init__(self, known_hosts):
        self.known_hosts = known_hosts
        self.node_run_dir = "/var/lib/drupgrade/runs"


class Transfer:
    def __init__(self, failing=()):
        self.failing = set(failing)
        self.uploads = []

    def upload_package(self, local, remote_dir, node):
        self.uploads.append(node.name)
        if node.name in self.failing:
            raise TransferFailed(node.name, remote_dir + "/pkg.tar.gz", "lost connection")
        return TransferResult(node.name, local, remote_dir + "/" + os.path.basename(local), "scp", "uploaded",
                              10, 10, 0.1, "ab" * 32, [])

    def local_sha256(self, path):
        return "ab" * 32


class Transport:
    """Answers the relay's node scripts by which script it is (the words of `bash -c SCRIPT drupgrade …`)."""

    def __init__(self, known_hosts, transfer=None, send=None, setup_rc=0, keys_rc=None):
        self.settings = Settings(known_hosts)
        self.transfer = transfer or Transfer()
        self.calls = []  # (node, which, args, stdin)
        self.send = send  # callable(args) -> CommandResult
        self.setup_rc = setup_rc
        self.keys_rc = keys_rc or {}
        self.lock = threading.Lock()

    def run(self, node, command, conn_type="control", stdin=None, timeout=None, retry=True):
        words = shlex.split(command)
        script, args = words[2], words[4:]
        which = {relay.KEYS: "keys", relay.SETUP: "setup", relay.TEARDOWN: "teardown", relay.SEND: "send"}[script]
        with self.lock:
            self.calls.append((node.name, which, args, stdin))
        if which == "send":
            return self.send(args)
        if which == "setup":
            return CommandResult(node.name, command, self.setup_rc, "from=10.0.0.11\n",
                                 "mkdir: No space left on device" if self.setup_rc else "")
        if which == "keys":
            rc = self.keys_rc.get(node.name, 0)
            return CommandResult(node.name, command, rc, "", "Read-only file system" if rc else "")
        return CommandResult(node.name, command, 0, "", "")

    def of(self, which):
        return [c for c in self.calls if c[1] == which]


def targets_of(args):
    """The node names the relay was told to serve (after the 8 fixed arguments: name host port user …)."""
    return args[8::4]


def answer(lines, rc=0):
    return lambda args: CommandResult("n1", "", rc, "".join("drupgrade-relay %s\n" % ln for ln in lines), "")


NODES = [Node("n1", "10.0.0.11"), Node("n2", "10.0.0.12"), Node("n3", "10.0.0.13")]


@pytest.fixture
def known_hosts(tmp_path):
    p = tmp_path / "known_hosts"
    p.write_text("10.0.0.11 ssh-ed25519 AAAAone\n10.0.0.12 ssh-ed25519 AAAAtwo\n"
                 "10.0.0.12 ecdsa-sha2-nistp256 AAAAtwo2\n10.0.0.13 ssh-ed25519 AAAAthree\n"
                 "[10.0.0.14]:2222 ssh-ed25519 AAAAfour\n")
    return str(p)


@pytest.fixture
def package(tmp_path):
    p = tmp_path / "pkg.tar.gz"
    p.write_bytes(b"0123456789")
    return str(p)


def dist(t, package, nodes=NODES):
    return relay.Distribution(t, package, "/var/lib/drupgrade/packages", nodes, "run_20261203_020000", 4,
                              clock=lambda: 1796263200.0)


# -- the choice --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, count, size, relays", [
    ("relay", 1, 10 ** 9, False),  # a single node never relays
    ("auto", 1, 10 ** 9, False),
    ("relay", 2, 10, True),
    ("auto", 3, relay.AUTO_MIN_BYTES - 1, False),  # small: the key set-up costs more than it saves
    ("auto", 3, relay.AUTO_MIN_BYTES, True),
    ("direct", 10, 10 ** 9, False),
])
def test_when_a_relay_is_used(mode, count, size, relays):
    assert relay.use_relay(mode, count, size) is relays


# -- the run key ---------------------------------------------------------------------------------
def test_the_run_key_line_limits_source_lifetime_and_what_the_key_may_do():
    private, public = relay.new_key_pair()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----") and public.startswith("ssh-ed25519 ")
    import datetime
    expires = relay.expiry(datetime.datetime(2026, 12, 3, 2, 0, tzinfo=datetime.timezone.utc))
    assert expires == "202612030401Z"  # two hours and a minute, UTC
    line = relay.key_line(public, ["10.0.0.11"], "run_20261203_020000", expires)
    assert line == 'expiry-time="202612030401Z",from="10.0.0.11",restrict %s drupgrade-relay:run_20261203_020000' % (
        public,)
    for bad_source in (['10.0.0.11",command="sh'], ["-oProxy"]):
        with pytest.raises(UnsafeValue):
            relay.key_line(public, bad_source, "run_1", expires)
    with pytest.raises(UnsafeValue):
        relay.key_line(public, ["10.0.0.11"], "run 1\nssh-rsa AAAA", expires)


def keys_script(home, stdin):
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(["bash", "-c", relay.KEYS, "drupgrade"], input=stdin.encode(), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_keys_script_adds_the_run_key_and_removes_every_marked_line_only(tmp_path):
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    ak = ssh / "authorized_keys"
    ak.write_text("ssh-ed25519 AAAAoperator admin@desk\n"
                  'expiry-time="202601010000Z",restrict ssh-ed25519 AAAAold drupgrade-relay:run_crashed\n'
                  "ssh-rsa AAAAother drupgrade-relay-is-not-a-marker\n")
    ak.chmod(0o600)
    inode = ak.stat().st_ino
    line = 'expiry-time="202612030401Z",from="10.0.0.11",restrict ssh-ed25519 AAAAnew drupgrade-relay:run_2'
    assert keys_script(tmp_path, line + "\n").returncode == 0
    assert ak.read_text().splitlines() == ["ssh-ed25519 AAAAoperator admin@desk",
                                           "ssh-rsa AAAAother drupgrade-relay-is-not-a-marker", line]
    assert keys_script(tmp_path, "").returncode == 0  # the removal at the end
    assert ak.read_text().splitlines() == ["ssh-ed25519 AAAAoperator admin@desk",
                                           "ssh-rsa AAAAother drupgrade-relay-is-not-a-marker"]
    assert ak.stat().st_ino == inode and stat.S_IMODE(ak.stat().st_mode) == 0o600
    assert not [p for p in os.listdir(ssh) if p != "authorized_keys"]  # no temp file left


def test_the_keys_script_creates_a_missing_authorized_keys_private(tmp_path):
    assert keys_script(tmp_path, "").returncode == 0
    ak = tmp_path / ".ssh" / "authorized_keys"
    assert ak.read_text() == "" and stat.S_IMODE(ak.stat().st_mode) == 0o600


def test_the_relay_gets_only_the_host_keys_the_controller_trusts(known_hosts):
    from drupgrade.transport.policy import Endpoint
    assert relay.known_host_lines(known_hosts, Endpoint("n2", "10.0.0.12")) == [
        "10.0.0.12 ssh-ed25519 AAAAtwo", "10.0.0.12 ecdsa-sha2-nistp256 AAAAtwo2"]
    assert relay.known_host_lines(known_hosts, Endpoint("n4", "10.0.0.14", 2222)) == [
        "[10.0.0.14]:2222 ssh-ed25519 AAAAfour"]
    assert relay.known_host_lines(known_hosts, Endpoint("n5", "10.0.0.15")) == []
    assert relay.known_host_lines(known_hosts + ".missing", Endpoint("n2", "10.0.0.12")) == []


# -- the plan and its fallbacks --------------------------------------------------------------------
def test_the_first_node_relays_to_the_others_with_a_run_key_removed_after(known_hosts, package):
    t = Transport(known_hosts, send=answer(["n2 uploaded 10", "n3 resumed 4"]))
    d = dist(t, package)
    results = d.run()
    assert t.transfer.uploads == ["n1"]  # the package crossed the controller's link once
    assert d.relay.name == "n1" and d.fallbacks == []
    assert results["n1"].method == "scp"
    assert (results["n2"].method, results["n2"].action, results["n2"].sent) == ("relay", "uploaded", 10)
    assert (results["n3"].action, results["n3"].sent, results["n3"].relay) == ("resumed", 4, "n1")
    (node, _w, args, private), = t.of("setup")
    assert node == "n1" and args[0] == "/var/lib/drupgrade/runs/relay-run_20261203_020000"
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")  # on stdin, to the relay only
    assert args[1] == ("10.0.0.12 ssh-ed25519 AAAAtwo\n10.0.0.12 ecdsa-sha2-nistp256 AAAAtwo2\n"
                       "10.0.0.13 ssh-ed25519 AAAAthree\n")
    installs = [c for c in t.of("keys") if c[3]]
    assert sorted(c[0] for c in installs) == ["n2", "n3"]
    for c in installs:
        assert c[3].decode().startswith('expiry-time="202612030401Z",from="10.0.0.11",restrict ssh-ed25519 ')
        assert c[3].decode().endswith(" drupgrade-relay:run_20261203_020000\n")
        assert b"PRIVATE" not in c[3]
    (_n, _w, send, _s), = t.of("send")
    assert targets_of(send) == ["n2", "n3"] and send[1] == "/var/lib/drupgrade/packages/pkg.tar.gz"
    removals = [c for c in t.of("keys") if not c[3]]
    assert sorted(c[0] for c in removals) == ["n2", "n3"]
    assert [c[0] for c in t.of("teardown")] == ["n1"]
    assert [c[1] for c in t.calls].index("send") < [c[1] for c in t.calls].index("teardown")


def test_a_node_that_cannot_take_the_upload_is_not_the_relay_the_next_one_is(known_hosts, package, caplog):
    t = Transport(known_hosts, transfer=Transfer(failing=["n1"]), send=answer(["n3 uploaded 10"]))
    caplog.set_level(logging.WARNING, logger="drupgrade.transport")
    results = dist(t, package).run()
    assert t.transfer.uploads == ["n1", "n2"]
    assert isinstance(results["n1"], TransferFailed)  # n1's own failure: its step fails, its policy retries
    assert results["n2"].method == "scp" and results["n3"].method == "relay"
    assert "n1 cannot be the relay of pkg.tar.gz" in caplog.text and "trying n2" in caplog.text


def test_a_node_the_relay_could_not_serve_gets_the_file_from_the_controller(known_hosts, package, caplog):
    t = Transport(known_hosts, send=answer(["n2 uploaded 10", "n3 failed Host key verification failed."], rc=0))
    caplog.set_level(logging.WARNING, logger="drupgrade.transport")
    d = dist(t, package)
    results = d.run()
    assert t.transfer.uploads == ["n1", "n3"]
    assert results["n2"].method == "relay" and results["n3"].method == "scp"
    assert d.fallbacks == [("n3", "the relay n1 could not send it: Host key verification failed.")]
    assert "n3: pkg.tar.gz is uploaded directly from the controller: the relay n1 could not send it" in caplog.text
    assert len([c for c in t.of("keys") if not c[3]]) == 2 and t.of("teardown")  # keys gone all the same


def test_a_relay_that_fails_sends_everyone_direct(known_hosts, package):
    t = Transport(known_hosts, send=lambda args: CommandResult("n1", "", 255, "", "Connection to n1 closed."))
    d = dist(t, package)
    results = d.run()
    assert t.transfer.uploads == ["n1", "n2", "n3"]
    assert all(results[n].method == "scp" for n in ("n1", "n2", "n3"))
    assert [n for n, _r in d.fallbacks] == ["n2", "n3"]
    assert d.fallbacks[0][1] == "the relay n1 failed: Connection to n1 closed."
    assert t.of("teardown")


def test_a_node_without_a_recorded_host_key_is_never_relayed_to(tmp_path, package):
    kh = tmp_path / "kh"
    kh.write_text("10.0.0.12 ssh-ed25519 AAAAtwo\n")
    t = Transport(str(kh), send=answer(["n2 uploaded 10"]))
    d = dist(t, package)
    results = d.run()
    assert results["n3"].method == "scp" and results["n2"].method == "relay"
    assert d.fallbacks[0][0] == "n3" and "no recorded host key" in d.fallbacks[0][1]
    assert all(c[0] != "n3" for c in t.of("keys"))


def test_a_relay_that_cannot_take_the_key_or_a_node_that_refuses_it_falls_back(known_hosts, package):
    t = Transport(known_hosts, setup_rc=1, send=answer([]))
    d = dist(t, package)
    d.run()
    assert t.transfer.uploads == ["n1", "n2", "n3"] and not t.of("send") and not t.of("keys")
    assert "could not take the run key: mkdir: No space left on device" in d.fallbacks[0][1]
    assert t.of("teardown")  # a half-made key dir goes too
    t = Transport(known_hosts, keys_rc={"n3": 1}, send=answer(["n2 uploaded 10"]))
    d = dist(t, package)
    results = d.run()
    assert targets_of(t.of("send")[0][2]) == ["n2"] and results["n3"].method == "scp"
    assert d.fallbacks == [("n3", "the run key could not be added on the node: Read-only file system")]


def test_stale_keys_are_removed_from_every_node_without_failing(known_hosts):
    t = Transport(known_hosts, keys_rc={"n2": 1})
    relay.remove_stale_keys(t, NODES, 2)
    assert sorted(c[0] for c in t.of("keys")) == ["n1", "n2", "n3"] and not any(c[3] for c in t.of("keys"))


def test_the_relay_addresses_come_from_the_config_and_the_relays_ssh_connection():
    assert relay.relay_sources(Node("n1", "10.0.0.11"), "from=10.0.0.11\n") == ["10.0.0.11"]
    assert relay.relay_sources(Node("n1", "node1.site"), "from=192.168.1.5\n") == ["192.168.1.5"]
    assert relay.relay_sources(Node("n1", "10.0.0.11"), "from=fd00::11\n") == ["10.0.0.11", "fd00::11"]
    assert relay.relay_sources(Node("n1", "node1.site"), "from=\n") == ["node1.site"]


# -- the relay's sender script, with an ssh that runs the remote command here ------------------------
SSH_STANDIN = r"""#!/usr/bin/env bash
# ssh OPTIONS… -- HOST COMMAND: a host named "down" fails like ssh; else the command runs here.
while [ "$1" != "--" ]; do shift; done
host=$2 command=$3
if [ "$host" = down ]; then echo "ssh: connect to host down port 22: No route to host" >&2; exit 255; fi
echo "$host" >> "$LOG"
exec bash -c "$command"
"""


@pytest.fixture
def sender(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(SSH_STANDIN)
    (bindir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("LOG", str(tmp_path / "ssh.log"))
    src = tmp_path / "relay" / "pkg.tar.gz"
    src.parent.mkdir()
    data = os.urandom(300000)
    src.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    dest = tmp_path / "target" / "pkg.tar.gz"
    from drupgrade.transport import quoting
    from drupgrade.transport.transfer import FINALIZE, PROBE

    def run(*hosts):
        d, part = str(dest), str(dest) + ".part"
        words = [str(tmp_path / "kd"), str(src), sha, len(data), 2,
                 quoting.bash_c(PROBE, d, part, str(dest.parent), 1), quoting.bash_c('exec cat >> "$1"', part),
                 quoting.bash_c(FINALIZE, part, d, sha)]
        for h in hosts:
            words += [h, h, 22, "root"]
        (tmp_path / "kd").mkdir(exist_ok=True)
        res = subprocess.run(["bash", "-c", relay.SEND, "drupgrade"] + [str(w) for w in words],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        return relay.parse_results(res.stdout)
    return run, dest, data


def test_the_relay_sends_verifies_skips_and_resumes(sender):
    run, dest, data = sender
    assert run("t1") == {"t1": ("uploaded", "300000")}
    assert dest.read_bytes() == data and not os.path.exists(str(dest) + ".part")
    assert run("t1") == {"t1": ("skipped", "0")}  # a resumed run sends nothing the node has
    dest.unlink()
    with open(str(dest) + ".part", "wb") as f:
        f.write(data[:100000])
    assert run("t1") == {"t1": ("resumed", "200000")}
    assert dest.read_bytes() == data


def test_a_partial_that_does_not_verify_is_sent_again_whole(sender):
    run, dest, data = sender
    dest.parent.mkdir()
    with open(str(dest) + ".part", "wb") as f:
        f.write(b"x" * 1000)  # not the file's first bytes
    assert run("t1") == {"t1": ("uploaded", "300000")}
    assert dest.read_bytes() == data


def test_a_node_the_relay_cannot_reach_is_reported_the_others_served(sender):
    run, dest, data = sender
    got = run("down", "t2")
    assert got["down"] == ("failed", "ssh: connect to host down port 22: No route to host")
    assert got["t2"] == ("uploaded", "300000") and dest.read_bytes() == data
