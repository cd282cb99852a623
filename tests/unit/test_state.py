"""Atomic JSON, the run lock (exit 5, freed by kill -9) and the journal."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from drupgrade import state
from drupgrade.errors import EXIT_LOCKED, DrupgradeError

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
    finally:
        proc.kill()
        proc.wait()


def test_lock_is_free_after_kill_9_of_its_holder(tmp_path):
    proc = _holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with state.RunLock(str(tmp_path)).acquire("after crash"):
        pass


def test_journal_records_durably_and_finds_last_event(tmp_path):
    j = state.Journal.create(str(tmp_path / "runs"), "run-1", target="2.2.0")
    j.record(node="node1", step="unzip", event="start")
    j.record(node="node1", step="unzip", event="end", rc=0)
    j.record(node="node2", step="unzip", event="start")
    again = state.Journal.load(j.path)
    assert again.data["target"] == "2.2.0"
    assert again.last(node="node1", step="unzip")["event"] == "end"
    assert again.last(node="node2")["event"] == "start"
    assert again.last(node="node3") is None
