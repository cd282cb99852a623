"""drupgrade.procs: a process known by its pid and start time (psutil), and the controller's figures."""
import os
import re
import subprocess
import sys

from drupgrade import i18n, procs


def test_this_process_is_recognised_by_pid_and_start_time():
    me = procs.identity()
    assert me["pid"] == os.getpid() and me["pid_started"] > 0
    assert procs.running(me["pid"], me["pid_started"]) and procs.running(me["pid"])
    assert not procs.running(me["pid"], me["pid_started"] - 60)  # the same pid, another process: reused
    assert not procs.running(None) and not procs.running("", 1.0) and not procs.running("x")


def test_a_process_that_ended_or_is_a_zombie_does_not_run():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    who = procs.identity(child.pid)
    assert procs.running(who["pid"], who["pid_started"])
    child.stdin.close()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # it ended; not reaped yet: a zombie
    assert not procs.running(who["pid"], who["pid_started"])
    child.wait()
    assert not procs.running(who["pid"], who["pid_started"])


def test_running_for_says_how_long_that_very_process_runs():
    i18n.set_lang("en")
    child = subprocess.Popen([sys.executable, "-c", "import time; print(1, flush=True); time.sleep(60)"],
                             stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        who = procs.identity(child.pid)
        assert re.match(r"^[0-9]+ s$", procs.running_for(who["pid"], who["pid_started"]))
        assert procs.running_for(who["pid"], who["pid_started"] + 5) is None  # a reused pid
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert procs.running_for(who["pid"], who["pid_started"]) is None


def test_the_controllers_own_figures():
    u = procs.usage()
    assert set(u) == {"load", "cpus", "mem", "rss", "threads"}
    assert u["cpus"] >= 1 and 0 <= u["mem"] <= 100 and u["rss"] > 0 and u["threads"] >= 1
