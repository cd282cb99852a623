"""Processes on the controller (psutil): one is known by its pid *and* its start time, because a pid
alone may have been reused by another process since it was written down (the run lock's holder, a
rollback session's tool); and the controller's own resource figures (the timeout block)."""
import os
import time

import psutil

from drupgrade.i18n import _
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


def describe(pid, started=None):
    """What process pid is, in the operator's words ("running for 5 min: python3 -m drupgrade …"),
    or None when it does not run (or is another process by now)."""
    try:
        proc = _process(pid, started)
        if proc is None:
            return None
        command = " ".join(proc.cmdline()) or proc.name()
        elapsed = time.time() - proc.create_time()
    except psutil.Error:
        return None
    return _("running for {elapsed}: {command}").format(elapsed=duration(elapsed), command=command[:300])


def usage():
    """The controller's own figures: {"load": 1-minute load, "cpus", "mem": % of memory in use,
    "rss": bytes of this process, "threads": its threads}."""
    me = psutil.Process()
    return {"load": round(os.getloadavg()[0], 2), "cpus": psutil.cpu_count() or 1,
            "mem": round(psutil.virtual_memory().percent), "rss": me.memory_info().rss, "threads": me.num_threads()}
