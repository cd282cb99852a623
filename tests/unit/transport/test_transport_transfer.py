"""FileTransferManager against a real OpenSSH server: §4.1.4 rules, §4.2.3.1–2 semantics."""
import hashlib
import logging
import os
import shutil
import threading

import psutil
import pytest
from sshd_server import TEST_PASSWORD, TEST_UID, TEST_USER

from drupgrade.transport import failures, owned
from drupgrade.transport.policy import Endpoint
from drupgrade.transport.transfer import FileTransferManager, is_compressible


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    p = tmp_path_factory.mktemp("payload") / "drp-9.9.9.tar.gz"
    p.write_bytes(os.urandom(8 * 1024 * 1024 + 123))
    return str(p)


def _mgr(settings, method):
    settings.method = method
    return FileTransferManager(settings)


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_upload_skip_replace_resume(settings, node, remote_dir, payload, method):
    dest = remote_dir + "/drp.tar.gz"
    with _mgr(settings, method) as m:
        r = m.upload_file(payload, dest, node)
        assert (r.action, r.method, r.sent) == ("uploaded", method, r.size)
        assert _sha(dest) == _sha(payload) and not os.path.exists(dest + ".part")
        r = m.upload_file(payload, dest, node)
        assert (r.action, r.sent) == ("skipped", 0)
        with open(dest, "r+b") as f:  # a different file on the node: replaced
            f.write(b"X")
        assert m.upload_file(payload, dest, node).action == "replaced"
        assert _sha(dest) == _sha(payload)
        os.unlink(dest)
        with open(payload, "rb") as src, open(dest + ".part", "wb") as part:
            part.write(src.read(3 * 1024 * 1024))  # what a cut upload leaves behind
        os.chown(dest + ".part", TEST_UID, TEST_UID)
        r = m.upload_file(payload, dest, node)
        assert r.action == "resumed" and r.sent == r.size - 3 * 1024 * 1024
        assert _sha(dest) == _sha(payload) and not os.path.exists(dest + ".part")
        snap = m.get_transfer_progress()
        assert snap[0]["file"] == dest and snap[0]["percent"] == 100.0 and snap[1]["state"] == "skipped"


def test_a_corrupt_partial_is_detected_and_sent_again(settings, key_node, remote_dir, payload):
    dest = remote_dir + "/drp.tar.gz"
    with open(dest + ".part", "wb") as part:
        part.write(os.urandom(1024 * 1024))  # not a prefix of the file
    os.chown(dest + ".part", TEST_UID, TEST_UID)
    with _mgr(settings, "scp") as m:
        r = m.upload_file(payload, dest, key_node)
    assert _sha(dest) == _sha(payload)
    assert r.sent < 2 * r.size + 1


def test_without_the_node_side_hasher_the_partial_is_hashed_after_the_transfer(settings, key_node, remote_dir,
                                                                               payload, monkeypatch):
    from drupgrade.transport import scp as scp_mod
    monkeypatch.setattr(scp_mod, "HASHER", "import sys; sys.exit(1)")  # like a node without python3
    dest = remote_dir + "/drp.tar.gz"
    with open(payload, "rb") as src, open(dest + ".part", "wb") as part:
        part.write(src.read(1024 * 1024))
    os.chown(dest + ".part", TEST_UID, TEST_UID)
    with _mgr(settings, "scp") as m:
        r = m.upload_file(payload, dest, key_node)
    assert r.action == "resumed" and _sha(dest) == _sha(payload)


def test_scp_missing_from_path_falls_back_to_sftp_with_the_reason(settings, key_node, remote_dir, payload,
                                                                   monkeypatch, tmp_path, caplog):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("ssh"), str(bindir / "ssh"))
    monkeypatch.setenv("PATH", str(bindir))
    with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
        with _mgr(settings, "auto") as m:
            assert m.detect_transfer_method() == "sftp"
            r = m.upload_file(payload, remote_dir + "/f", key_node)
    assert r.method == "sftp" and _sha(remote_dir + "/f") == _sha(payload)
    assert any("scp command not found, using SFTP transfer mode" in x.getMessage() for x in caplog.records)


def test_scp_failing_at_run_time_falls_back_at_once_when_the_command_is_missing(settings, key_node, remote_dir,
                                                                                payload, monkeypatch, caplog):
    import subprocess

    from drupgrade.transport import scp as scp_mod

    def broken(self, line, stdin):  # the stream's ssh client is gone at run time
        return subprocess.Popen(["/nonexistent/ssh", line], stdin=stdin)
    monkeypatch.setattr(scp_mod.ScpEngine, "_spawn", broken)
    with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
        with _mgr(settings, "auto") as m:
            r = m.upload_file(payload, remote_dir + "/f", key_node)
    assert r.method == "sftp" and r.fallbacks and r.fallbacks[0][2] == "command not found"
    assert any("falling back to SFTP mode: command not found" in x.getMessage() for x in caplog.records)


def test_forced_sftp(settings, pw_node, remote_dir, payload):
    with _mgr(settings, "sftp") as m:
        r = m.upload_file(payload, remote_dir + "/f", pw_node)
    assert r.method == "sftp" and not r.fallbacks


def test_wrong_password_three_tries_and_no_fallback(settings, sshd, remote_dir, payload):
    bad = Endpoint("nbad", "127.0.0.1", sshd.port, TEST_USER, password="wrong-password")
    with _mgr(settings, "auto") as m:
        with pytest.raises(failures.AuthenticationFailed) as ei:
            m.upload_file(payload, remote_dir + "/f", bad)
        assert "after 3 tries" in ei.value.message
        assert ("nbad", "sftp", False) not in m._engines  # never fell back


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_permission_denied_is_not_retried_and_says_where(settings, key_node, payload, method, caplog):
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        with _mgr(settings, method) as m:
            with pytest.raises(failures.RemotePermissionDenied) as ei:
                m.upload_file(payload, "/root/drp.tar.gz", key_node)
    assert "/root" in ei.value.message and "nk" in ei.value.message
    assert not [r for r in caplog.records if "try " in r.getMessage()]


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_disk_full_is_not_retried_and_says_where(settings, key_node, sshd, payload, method):
    with _mgr(settings, method) as m:
        with pytest.raises(failures.RemoteDiskFull) as ei:
            m.upload_file(payload, sshd.small + "/drp.tar.gz", key_node)
    assert sshd.small in ei.value.message and "nk" in ei.value.message


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_disk_filling_during_the_upload_is_not_retried_and_the_partial_is_removed(
        settings, key_node, sshd, payload, method, monkeypatch, caplog):
    from drupgrade.transport import transfer
    monkeypatch.setattr(transfer, "DISK_MARGIN", -64 * 1024 * 1024)  # pass the free-space check: fill mid-way
    dest = sshd.small + "/drp.tar.gz"
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        with _mgr(settings, method) as m:
            with pytest.raises(failures.RemoteDiskFull) as ei:
                m.upload_file(payload, dest, key_node)
    e = ei.value
    assert "disk full" in e.message and "nk" in e.message and dest + ".part" in e.message
    assert e.partial_removed and "removed" in e.hint and e.code == 1
    assert not os.path.exists(dest + ".part") and not os.path.exists(dest)
    assert not [r for r in caplog.records if "try " in r.getMessage()]  # no retry


def _tree(root, files):
    """Files {relative path: text} under root, owned by the test user (as the node's user made them)."""
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for d, _dirs, names in os.walk(root):
        for p in [d] + [os.path.join(d, n) for n in names]:
            os.chown(p, TEST_UID, TEST_UID)


@pytest.mark.parametrize("kind", ["marked", "legacy"])
def test_tool_package_upload_removes_a_stale_unpacked_dir_the_tool_created(
        settings, key_node, remote_dir, payload, kind, caplog):
    """...and says so in the controller log only: a command that shows backups (rollback_tool list
    --install-tool) never prints that it removed something on a node (issue 18)."""
    caplog.set_level(logging.DEBUG, logger="drupgrade")
    stale = remote_dir + "/drupgrade"
    if kind == "marked":
        _tree(stale, {"bin/drstep": "#!/bin/bash\n", ".drupgrade-owned": "created_by=drupgrade node tool\n"})
    else:  # unpacked by a drupgrade that wrote no markers yet: its content shows it is ours
        _tree(stale, {"bin/drstep": "#!/bin/bash\n", "VERSION": "0.1.0\n", "steps/x": "", "context.env": "DR_X=1\n"})
    with _mgr(settings, "scp") as m:
        r = m.upload_tool_package(payload, remote_dir + "/pkg", key_node, stale)
    assert not os.path.exists(stale) and r.action == "uploaded"
    said = [(rec.levelno, rec.getMessage()) for rec in caplog.records if "unpacked tool directory" in rec.getMessage()]
    assert said == [(logging.DEBUG, "%s: removed the earlier unpacked tool directory %s" % (key_node.name, stale))]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.INFO and "removed" in rec.getMessage()]
    assert os.path.exists(remote_dir + "/pkg/" + os.path.basename(payload))


@pytest.mark.parametrize("files", [
    {"bin/drstep": "#!/bin/bash\n", "VERSION": "0.1.0\n", "plugins/backup/mine.sh": "echo mine\n"},
    {"drp/VERSION": "1.0.0\n", "drp-releases/1.0.0/VERSION": "1.0.0\n"},
    {"bin/drstep": "x", ".drupgrade-owned": ""},
], ids=["legacy-with-an-operators-file", "someone-elses-dir", "marker-in-a-symlinked-dir"])
def test_tool_package_upload_refuses_a_dir_the_tool_did_not_create_and_leaves_it(
        settings, key_node, remote_dir, payload, files):
    foreign = remote_dir + "/opt"
    if files.get(".drupgrade-owned") == "":  # the marker is there, but the tool dir is a symlink to it
        _tree(remote_dir + "/elsewhere", files)
        os.symlink(remote_dir + "/elsewhere", foreign)
    else:
        _tree(foreign, files)
    before = sorted((d, sorted(n)) for d, _s, n in os.walk(foreign, followlinks=True))
    with _mgr(settings, "scp") as m:
        with pytest.raises(owned.NotOwned) as ei:
            m.upload_tool_package(payload, remote_dir + "/pkg", key_node, foreign)
    e = ei.value
    assert foreign in e.message and "not created by drupgrade" in e.message and "node_tool_dir" in e.message
    assert e.code == 1 and e.node == "nk"
    assert sorted((d, sorted(n)) for d, _s, n in os.walk(foreign, followlinks=True)) == before
    assert not os.path.exists(remote_dir + "/pkg")  # nothing was uploaded either


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_directory_upload_and_download(settings, key_node, remote_dir, payload, tmp_path, method):
    src = tmp_path / "tree"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "drstep").write_text("#!/bin/bash\necho hi\n")
    os.chmod(str(src / "bin" / "drstep"), 0o755)
    (src / "README").write_text("x" * 10000)
    with _mgr(settings, method) as m:
        m.upload_directory(str(src), remote_dir + "/tool", key_node)
        m.upload_directory(str(src), remote_dir + "/tool", key_node)  # replaces, no nesting
        assert sorted(os.listdir(remote_dir + "/tool")) == [".drupgrade-owned", "README", "bin"]
        assert sorted(os.listdir(remote_dir)) == ["tool"]  # no staging left
        assert os.access(remote_dir + "/tool/bin/drstep", os.X_OK)
        m.upload_file(payload, remote_dir + "/big", key_node)
        r = m.download_file(remote_dir + "/big", str(tmp_path / "back"), key_node)
    assert r.action == "downloaded" and _sha(str(tmp_path / "back")) == _sha(payload)


def test_directory_upload_never_replaces_a_dir_the_tool_did_not_create(settings, key_node, remote_dir, tmp_path):
    src = tmp_path / "tree"
    src.mkdir()
    (src / "README").write_text("new")
    _tree(remote_dir + "/data", {"keep.txt": "precious"})
    with _mgr(settings, "scp") as m:
        with pytest.raises(owned.NotOwned) as ei:
            m.upload_directory(str(src), remote_dir + "/data", key_node)
    assert remote_dir + "/data" in ei.value.message
    assert sorted(os.listdir(remote_dir + "/data")) == ["keep.txt"]


def test_no_password_in_any_process_argv_or_environment(settings, pw_node, remote_dir, payload):
    """Scan every process while password transfers (scp and SFTP) run."""
    found = []
    stop = threading.Event()

    def scan():
        while not stop.is_set():
            for p in psutil.process_iter():
                try:
                    cmd = " ".join(p.cmdline())
                    env = p.environ()
                except (psutil.Error, OSError):
                    continue
                if TEST_PASSWORD in cmd or any(TEST_PASSWORD in v for v in env.values()):
                    found.append((p.pid, cmd))
    t = threading.Thread(target=scan)
    t.start()
    try:
        for method in ("scp", "sftp"):
            with _mgr(settings, method) as m:
                m.upload_file(payload, remote_dir + "/" + method, pw_node, skip_identical=False)
    finally:
        stop.set()
        t.join()
    assert found == []


def test_no_password_in_logs(settings, pw_node, remote_dir, payload, caplog):
    with caplog.at_level(logging.DEBUG):
        with _mgr(settings, "scp") as m:
            m.upload_file(payload, remote_dir + "/f", pw_node)
    assert TEST_PASSWORD not in caplog.text


def test_compression_only_for_compressible_data(tmp_path):
    text = tmp_path / "a.sql"
    text.write_text("INSERT INTO t VALUES (1, 'abc');\n" * 20000)
    rnd = tmp_path / "b.bin"
    rnd.write_bytes(os.urandom(1 << 20))
    gz = tmp_path / "c.tar.gz"
    gz.write_text("INSERT INTO t VALUES (1, 'abc');\n" * 20000)
    assert is_compressible(str(text))
    assert not is_compressible(str(rnd))
    assert not is_compressible(str(gz))  # T6: never for compressed formats, by name


def test_unknown_method_is_refused(settings):
    settings.method = "ftp"
    with pytest.raises(ValueError):
        FileTransferManager(settings)


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_compressible_file_on_a_slow_link_goes_compressed(settings, key_node, remote_dir, tmp_path, method):
    text = tmp_path / "dump.sql"
    text.write_text("INSERT INTO t VALUES (1, 'abc');\n" * 100000)
    with _mgr(settings, method) as m:
        m._link_speed[key_node.name] = 1024 * 1024  # measured earlier: 1 MB/s
        m.upload_file(str(text), remote_dir + "/dump.sql", key_node)
        assert (key_node.name, method, True) in m._engines
        m.upload_file(payload_path(tmp_path), remote_dir + "/p.tar.gz", key_node)
        assert (key_node.name, method, False) in m._engines  # never for compressed data
    assert _sha(remote_dir + "/dump.sql") == _sha(str(text))


@pytest.mark.parametrize("setting, fast_text, slow_text, slow_gz", [
    ("auto", False, True, False), ("never", False, False, False), ("always", True, True, True)])
def test_the_compression_setting_decides_before_the_data_and_the_link(settings, tmp_path, setting, fast_text,
                                                                     slow_text, slow_gz):
    """[transfer] compression: auto compresses compressible data on a slow link only (T6), never
    and always whatever the data and the link."""
    text = tmp_path / "dump.sql"
    text.write_text("INSERT INTO t VALUES (1, 'abc');\n" * 20000)
    settings.compression = setting
    m = FileTransferManager(settings)
    fast, slow = Endpoint("fast", "10.0.0.1"), Endpoint("slow", "10.0.0.2")
    m._link_speed.update({"fast": 100 * 1024 * 1024, "slow": 1024 * 1024})
    assert m._compress(fast, str(text)) is fast_text
    assert m._compress(slow, str(text)) is slow_text
    assert m._compress(slow, payload_path(tmp_path)) is slow_gz


def payload_path(tmp_path):
    p = tmp_path / "p.tar.gz"
    p.write_bytes(os.urandom(1 << 20))
    return str(p)


def test_transport_facade(settings, key_node, remote_dir, payload, sshd):
    from drupgrade.transport import Transport
    settings.node_run_dir = sshd.home + "/runs"
    with Transport(settings) as t:
        assert t.run(key_node, ["echo", "hi"]).stdout == "hi\n"
        res = t.detached(key_node, "facade-%d" % os.getpid()).wait(command=["bash", "-c", "echo step; exit 4"])
        assert (res.rc, res.stdout) == (4, "step\n")
        r = t.transfer.upload_package(payload, remote_dir + "/pkgs", key_node)
        assert r.action == "uploaded" and os.path.exists(remote_dir + "/pkgs/" + os.path.basename(payload))
