"""Transport.probe (what `upgrade.sh nodes` shows) against the private sshd: read-only, every fact."""
import os
import shutil
import tempfile

from sshd_server import free_port

from drupgrade.transport import Transport
from drupgrade.transport.policy import Endpoint


def _tree(root):
    """Every path under root with its size and mtime (what a write would change)."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[path] = (st.st_size, st.st_mtime_ns)
    return found


def test_a_reachable_node_every_fact_and_nothing_written(settings, key_node, sshd, monkeypatch):
    def no_temporary_files(*_a, **_kw):
        raise AssertionError("the probe needs no temporary file here")
    monkeypatch.setattr(tempfile, "mkdtemp", no_temporary_files)
    monkeypatch.setattr(tempfile, "mkstemp", no_temporary_files)
    before = _tree(sshd.home)
    with Transport(settings) as t:
        found = t.probe(key_node)
    assert _tree(sshd.home) == before
    assert found.reachable and found.error is None and found.hint is None
    assert (found.scp, found.scp_error, found.sftp, found.sftp_error) == (True, None, True, None)
    assert found.transfers and found.latency_ms > 0
    assert found.node == "nk" and found.address == "127.0.0.1:%d" % sshd.port and found.auth_method == "key"
    assert found.host_key_state == "new" and found.host_key.startswith("ssh-ed25519 SHA256:")
    assert set(found.as_dict()) == set(found.FIELDS)


def test_without_scp_the_node_still_transfers_by_sftp_and_says_why(settings, key_node, monkeypatch, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("ssh"), str(bindir / "ssh"))
    monkeypatch.setenv("PATH", str(bindir))
    with Transport(settings) as t:
        found = t.probe(key_node)
    assert found.reachable and found.scp is False and "scp" in found.scp_error
    assert found.sftp is True and found.transfers


def test_an_unreachable_node_is_its_error_not_an_exception(settings, sshd):
    gone = Endpoint("gone", "127.0.0.1", free_port(), "nobody", private_key_path=sshd.client_key)
    with Transport(settings) as t:
        found = t.probe(gone)
    assert not found.reachable and "gone" in found.error and "not recoverable" in found.error
    assert (found.latency_ms, found.scp, found.sftp, found.host_key_state) == (None, None, None, None)
