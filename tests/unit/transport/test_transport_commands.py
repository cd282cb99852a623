"""Command building, quoting, policies: no network."""
import subprocess

import pytest

from drupgrade.transport import hostkeys, quoting
from drupgrade.transport.policy import (
    DEFAULT_HEARTBEATS,
    Endpoint,
    TransportSettings,
    alive_count,
    backoff,
    keepalive_options,
)
from drupgrade.transport.ssh import SshArgs

HOSTILE = ["a b", "$(touch /tmp/pwned-drupgrade)", "`id`", "x; rm -rf /", "'\"", "-oProxyCommand=evil",
           "new\nline", "*", "~root", "", "--"]


@pytest.mark.parametrize("word", HOSTILE)
def test_every_word_arrives_as_one_argument(word):
    line = quoting.join(["printf", "%s\\0", word, "tail"])
    out = subprocess.run(["bash", "-c", line], stdout=subprocess.PIPE).stdout
    assert out.split(b"\0")[:2] == [word.encode(), b"tail"]


def test_bash_c_passes_data_as_positional_arguments():
    line = quoting.bash_c('printf "%s|" "$1" "$2"', "$(id)", "a b")
    out = subprocess.run(["bash", "-c", line], stdout=subprocess.PIPE, universal_newlines=True).stdout
    assert out == "$(id)|a b|"


@pytest.mark.parametrize("host", ["-oProxyCommand=x", "a b", "h;id", "$(id)", "", "a\nb", "h`id`"])
def test_hostile_hosts_are_refused(host):
    with pytest.raises(quoting.UnsafeValue):
        quoting.check_host(host)


@pytest.mark.parametrize("host", ["node1", "10.231.0.11", "db-1.example.com", "::1", "[fe80::1%eth0]"])
def test_ordinary_hosts_pass(host):
    assert quoting.check_host(host) == host


@pytest.mark.parametrize("path", ["relative/p", "/a b", "/x;id", "/$(id)", "/a/../etc", "/a\nb", "/`id`", ""])
def test_hostile_remote_paths_are_refused(path):
    with pytest.raises(quoting.UnsafeValue):
        quoting.check_remote_path(path)


def test_hostile_node_cannot_reach_an_argv():
    st = TransportSettings(known_hosts="/tmp/kh-unused", control_dir="/tmp")
    with pytest.raises(quoting.UnsafeValue):
        SshArgs(Endpoint("n", "-oProxyCommand=touch /tmp/x", 22, "root", private_key_path="/k"), st, "control")
    with pytest.raises(quoting.UnsafeValue):
        SshArgs(Endpoint("n", "h", 22, "root;id", private_key_path="/k"), st, "control")


def test_heartbeat_table_maps_to_server_alive_options():
    # §4.6.1: control 60/180/3, transfer 30/120/2, plugin 45/150/1, status 90/300/manual
    want = {"control": ("60", "3", 3), "transfer": ("30", "4", 2), "plugin": ("45", "4", 1),
            "status": ("90", "4", None)}
    assert set(DEFAULT_HEARTBEATS) == set(want)
    for conn_type, (interval, count, reconnects) in want.items():
        hb = DEFAULT_HEARTBEATS[conn_type]
        opts = keepalive_options(hb)
        assert (opts["ServerAliveInterval"], opts["ServerAliveCountMax"], hb.reconnects) == (
            interval, count, reconnects)
        assert int(interval) * alive_count(hb) >= hb.timeout


def test_backoff_is_exponential_and_capped():
    assert [backoff(n) for n in range(1, 7)] == [1, 3, 7, 15, 30, 30]


def _opts(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-o")


def test_key_auth_uses_batch_mode_and_the_mux(tmp_path):
    st = TransportSettings(known_hosts=str(tmp_path / "kh"), control_dir=str(tmp_path))
    args = SshArgs(Endpoint("n1", "10.0.0.1", 2222, "root", private_key_path="/k/id"), st, "control")
    argv = args.ssh_argv(["echo", "a b"])
    o = _opts(argv)
    assert o["BatchMode"] == "yes" and o["IdentitiesOnly"] == "yes" and o["ControlMaster"] == "no"
    assert o["ControlPath"] == args.control_path and o["Compression"] == "no"
    assert o["StrictHostKeyChecking"] == "accept-new" and o["UserKnownHostsFile"] == str(tmp_path / "kh")
    assert argv[-3:] == ["--", "10.0.0.1", "echo 'a b'"]
    m = _opts(args.master_argv())
    assert m["ControlMaster"] == "yes" and m["ServerAliveInterval"] == "60" and m["ServerAliveCountMax"] == "3"


def test_password_master_uses_a_prompt_never_the_argv(tmp_path):
    st = TransportSettings(known_hosts=str(tmp_path / "kh"), control_dir=str(tmp_path))
    ep = Endpoint("n1", "10.0.0.1", 22, "root", password="Very$ecret")
    args = SshArgs(ep, st, "transfer")
    for argv in (args.master_argv(), args.ssh_argv("true"), args.scp_argv(["/a"], args.remote("/b"))):
        assert not any("Very$ecret" in a for a in argv)
    m = _opts(args.master_argv())
    assert m["NumberOfPasswordPrompts"] == "1" and m["PubkeyAuthentication"] == "no"
    assert "Very$ecret" not in repr(ep)


def test_connection_types_get_separate_masters(tmp_path):
    st = TransportSettings(known_hosts=str(tmp_path / "kh"), control_dir=str(tmp_path))
    ep = Endpoint("n1", "h", 22, "root", private_key_path="/k")
    paths = {SshArgs(ep, st, t).control_path for t in ("control", "transfer", "plugin", "status")}
    assert len(paths) == 4


def test_transfer_master_prefers_aes_gcm_when_the_cpu_has_aes(tmp_path, monkeypatch):
    from drupgrade.transport import ssh
    st = TransportSettings(known_hosts=str(tmp_path / "kh"), control_dir=str(tmp_path))
    ep = Endpoint("n1", "h", 22, "root", private_key_path="/k")
    monkeypatch.setattr(ssh, "preferred_cipher", lambda s: "aes128-gcm@openssh.com")
    assert _opts(SshArgs(ep, st, "transfer").master_argv())["Ciphers"] == "^aes128-gcm@openssh.com"
    assert "Ciphers" not in _opts(SshArgs(ep, st, "control").master_argv())


def test_host_key_policies(tmp_path):
    kh = str(tmp_path / "kh")
    strict = hostkeys.ssh_options(Endpoint("n", "h", host_key_policy="strict"), kh)
    assert strict["StrictHostKeyChecking"] == "yes" and strict["UserKnownHostsFile"] == kh
    new = hostkeys.ssh_options(Endpoint("n", "h", host_key_policy="accept-new"), kh)
    assert new["StrictHostKeyChecking"] == "accept-new" and new["GlobalKnownHostsFile"] == "/dev/null"
    insecure = hostkeys.ssh_options(Endpoint("n", "h", host_key_policy="insecure"), kh)
    assert insecure["StrictHostKeyChecking"] == "no" and insecure["UserKnownHostsFile"] == "/dev/null"
    with pytest.raises(ValueError):
        hostkeys.ssh_options(Endpoint("n", "h", host_key_policy="yolo"), kh)


def test_known_hosts_pattern_and_fingerprints(tmp_path):
    kh = tmp_path / "kh"
    subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")])
    pub = (tmp_path / "k.pub").read_text().split()
    kh.write_text("[10.0.0.1]:2222 %s %s\n" % (pub[0], pub[1]))
    fp = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], stdout=subprocess.PIPE,
                        universal_newlines=True).stdout.split()[1]
    assert hostkeys.known_fingerprints(str(kh), "10.0.0.1", 2222) == [("ssh-ed25519", fp)]
    assert hostkeys.known_fingerprints(str(kh), "10.0.0.1", 22) == []


def test_callers_ask_a_result_whether_ssh_failed_instead_of_comparing_its_rc():
    """rc 255 means "ssh itself failed" in one place (CommandResult.ssh_failed)."""
    import os
    import re

    from drupgrade.transport.result import CommandResult
    assert CommandResult("n", "true", 255).ssh_failed and not CommandResult("n", "true", 1).ssh_failed
    code = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))), "lib", "python", "drupgrade")
    by_hand = re.compile(r"\.rc\s*[!=]=\s*(255|SSH_FAILED)\b")
    found = []
    for dirpath, _dirs, files in os.walk(code):
        for name in files:
            if name.endswith(".py") and name != "result.py":  # where ssh_failed says it
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    found += ["%s:%d" % (name, i) for i, line in enumerate(f, 1) if by_hand.search(line)]
    assert found == []
