"""Processes on the controller (psutil): one is known by its pid *and* its start time, because a pid
alone may have been reused by another process since it was written down (the run lock's holder, a
rollback session's tool); and the controller's own resource figures (the timeout block)."""
import faulthandler
import os
import tempfile
import threading
import time

import psutil

from drupgrade.timeouts import duration


def identity(pid=None):
    """{"pid": …, "pid_started": its start time, seconds since the epoch} of pid (default: this
    process): what a lock or a journal records to recognise the process later."""
    proc = psutil.Process(pid or os.getpid())
    return {"pid": proc.pid, "pid_started": round(proc.create_time(), 2)}


def _process(pid, started=None):
    """The live process pid (the one that started at `started`, when given), else None."""
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if started is not None and abs(proc.create_time() - float(started)) > 0.02:
            return None  # the pid was reused by another process
        return proc
    except (psutil.NoSuchProcess, ValueError, TypeError):
        return None


def running(pid, started=None):
    """True when pid runs and, with started, is the very process that started then."""
    if not pid:
        return False
    try:
        return _process(pid, started) is not None
    except psutil.AccessDenied:  # it exists, owned by someone else
        return True


def running_for(pid, started=None):
    """How long process pid has run, in the operator's words ("5 min"), or None when it does not run
    (or is another process by now)."""
    try:
        proc = _process(pid, started)
        return duration(time.time() - proc.create_time()) if proc is not None else None
    except psutil.Error:
        return None


def usage():
    """The controller's own figures: {"load": 1-minute load, "cpus", "mem": % of memory in use,
    "rss": bytes of this process, "threads": its threads}."""
    me = psutil.Process()
    return {"load": round(os.getloadavg()[0], 2), "cpus": psutil.cpu_count() or 1,
            "mem": round(psutil.virtual_memory().percent), "rss": me.memory_info().rss, "threads": me.num_threads()}


def facts(interval=0.5):
    """The controller's load in the words of a node's (drcontext summary): {"cpu", "mem", "io"},
    percent as text, measured over `interval` seconds (io: the busiest disk's busy time)."""
    before = psutil.disk_io_counters(perdisk=True) or {}
    cpu = psutil.cpu_percent(interval=interval)
    after = psutil.disk_io_counters(perdisk=True) or {}
    busy = [(after[d].busy_time - before[d].busy_time) / (interval * 10.0)
            for d in after if d in before and hasattr(after[d], "busy_time")]
    return {"cpu": "%d" % round(cpu), "mem": "%d" % round(psutil.virtual_memory().percent),
            "io": "%d" % min(100, round(max(busy))) if busy else "?"}


def context():
    """What the controller was doing when one of its own steps timed out: its figures, its threads
    (the step's own among them, by name) and where each stands, and its child processes (ssh, scp)."""
    lines = ["== controller", " ".join("%s=%s" % kv for kv in sorted(usage().items())), "== threads"]
    lines += ["0x%016x %s" % (t.ident or 0, t.name) for t in threading.enumerate()]
    with tempfile.TemporaryFile() as f:
        faulthandler.dump_traceback(f, all_threads=True)
        f.seek(0)
        lines += f.read().decode("utf-8", "replace").splitlines()
    lines.append("== processes")
    for child in psutil.Process().children(recursive=True):
        try:
            lines.append("%d %s" % (child.pid, " ".join(child.cmdline())[:300]))
        except psutil.Error:
            continue
    return "\n".join(lines) + "\n"
