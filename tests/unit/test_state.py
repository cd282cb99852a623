"""The state dir, atomic JSON and the run lock (exit 5, freed by kill -9); the journal: test_journal.py."""
import errno
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from drupgrade import state
from drupgrade.errors import EXIT_LOCKED, EXIT_USAGE, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "d" / "x.json")
    state.atomic_write_json(path, {"a": 1})
    state.atomic_write_json(path, {"a": 2, "zh": "中文"})
    assert json.load(open(path, encoding="utf-8")) == {"a": 2, "zh": "中文"}
    assert os.listdir(str(tmp_path / "d")) == ["x.json"]


def test_read_json_default(tmp_path):
    assert state.read_json(str(tmp_path / "none.json"), {"x": 1}) == {"x": 1}


def _holder(tmp_path):
    """A child process that takes the lock and waits."""
    code = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        from drupgrade import state
        state.RunLock(%r).acquire("test holder")
        print("locked", flush=True)
        time.sleep(60)
    """ % (os.path.join(TOP, "lib", "python"), str(tmp_path)))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            universal_newlines=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_is_refused_with_exit_5_naming_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(DrupgradeError) as exc:
            state.RunLock(str(tmp_path)).acquire("second")
        assert exc.value.code == EXIT_LOCKED
        assert "pid %d" % proc.pid in exc.value.message and "test holder" in exc.value.message
        # in the operator's words: what it runs, its pid and host, and (by pid and start time) for how long
        assert re.search(r": pid [0-9]+ on \S+ since \S+, running for [0-9]+ s: test holder$", exc.value.message)
        assert "started " not in exc.value.message and "RunLock(" not in exc.value.message
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_free_after_kill_9_of_its_holder(tmp_path):
    proc = _holder(tmp_path)
    assert "test holder" in state.RunLock(str(tmp_path)).holder()  # status: a controller drives the run
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.RunLock(str(tmp_path)).holder() is None  # status: the run was interrupted
    with state.RunLock(str(tmp_path)).acquire("after crash"):
        pass


def test_asking_who_holds_the_lock_never_takes_it(tmp_path):
    assert state.RunLock(str(tmp_path)).holder() is None  # no lock file yet
    with state.RunLock(str(tmp_path)).acquire("a run") as lock:
        assert "a run" in lock.holder()
    assert state.RunLock(str(tmp_path)).holder() is None


# -- modes (audit L1) -------------------------------------------------------------------------------
@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_files_are_0600_and_dirs_0700_under_umask_022(tmp_path, loose_umask):
    path = str(tmp_path / "state" / "runs" / "r" / "journal.json")
    state.atomic_write_json(path, {"a": 1})
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700


def test_state_dir_is_made_0700_and_tightened_on_every_start(tmp_path, loose_umask):
    d = str(tmp_path / "a" / "state")
    state.prepare_state_dir(d)
    assert mode(d) == 0o700
    os.chmod(d, 0o755)  # made by an older tool, or by hand
    state.prepare_state_dir(d)
    assert mode(d) == 0o700


def test_a_state_dir_owned_by_someone_else_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown the directory to another user")
    d = str(tmp_path / "state")
    os.mkdir(d)
    os.chmod(d, 0o755)  # whatever the umask an earlier test in this process left (cli.main sets 077)
    os.chown(d, 65534, 65534)
    with pytest.raises(DrupgradeError) as exc:
        state.prepare_state_dir(d)
    assert exc.value.code == EXIT_USAGE and d in exc.value.message and "chown" in exc.value.hint
    assert mode(d) == 0o755


# -- disk full on the controller (audit L9) ----------------------------------------------------------
@pytest.fixture
def small_disk(tmpfs):
    """A real 256 KB tmpfs: writes beyond it fail with ENOSPC."""
    return tmpfs("small", "256k")


def test_a_full_disk_is_a_clear_error_and_leaves_no_temp_file(small_disk):
    path = os.path.join(small_disk, "journal.json")
    state.atomic_write_json(path, {"events": ["small"]})
    fd = os.open(os.path.join(small_disk, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    with pytest.raises(DrupgradeError) as exc:
        state.atomic_write_json(path, {"events": ["x" * 100000]})
    assert "no space left" in exc.value.message and path in exc.value.message
    assert "df -h " + small_disk in exc.value.hint
    assert sorted(os.listdir(small_disk)) == ["filler", "journal.json"]  # no journal.json.tmp.<pid>
    assert json.load(open(path)) == {"events": ["small"]}  # the previous content is intact


def test_a_failed_write_of_another_kind_leaves_no_temp_file_either(tmp_path):
    with pytest.raises(TypeError):
        state.atomic_write_json(str(tmp_path / "x.json"), {"not json": object()})
    state.atomic_write_json(str(tmp_path / "y.json"), {"a": 1})
    os.mkdir(str(tmp_path / "y.json.new"))
    with pytest.raises(OSError):
        state.atomic_write_json(str(tmp_path / "y.json" / "z.json"), {})  # a file where a dir should be
    assert sorted(os.listdir(str(tmp_path))) == ["y.json", "y.json.new"]


# -- corrupt or hostile controller state (audit L7, L8) -----------------------------------------------
def test_truncated_json_is_a_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "rollback_history.json"
    path.write_text('{"rollback_history": [{"rollback_id": "ro')
    with pytest.raises(DrupgradeError) as exc:
        state.read_json(str(path))
    assert exc.value.code == EXIT_USAGE and str(path) in exc.value.message and "not valid JSON" in exc.value.message
    assert "mv %s %s.bad" % (path, path) in exc.value.hint
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(DrupgradeError):
        state.read_json(str(path))


def test_a_stray_file_where_a_run_dir_should_be_is_no_journal(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes.txt").write_text("x")
    assert state.read_json(str(tmp_path / "runs" / "notes.txt" / "journal.json")) is None
