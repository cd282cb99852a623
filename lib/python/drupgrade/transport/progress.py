"""Transfer progress (T7, §4.1.5): file, speed, percent, remaining time; rich bars on a
tty, plain log lines otherwise; human sizes and durations in both languages."""
import logging
import threading
import time

from drupgrade.i18n import _

log = logging.getLogger("drupgrade.transport")


def human_size(n):
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return ("%d%s" % (n, unit)) if unit == "B" else ("%.1f%s" % (n, unit))
        n /= 1024.0
    return "%.1fTB" % n  # pragma: no cover


def human_speed(bps):
    return human_size(bps) + "/s"


def human_duration(seconds):
    seconds = int(round(seconds or 0))
    m, s = divmod(seconds, 60)
    if m:
        return _("{m} min {s} s").format(m=m, s=s)
    return _("{s} s").format(s=s)


class TransferProgress(object):
    """The state of one transfer; snapshot() is what get_transfer_progress() returns."""

    def __init__(self, node, path, total, method, direction="upload"):
        self.node = node
        self.path = path
        self.total = int(total or 0)
        self.method = method
        self.direction = direction
        self.done = 0           # bytes of the file now on the far side (resumed part included)
        self.sent = 0           # bytes actually sent over the wire, over all attempts
        self.state = "running"  # running | done | skipped | failed
        self.started = time.time()
        self.finished = None
        self._start_done = 0
        self._lock = threading.Lock()

    def begin_attempt(self, offset, method):
        with self._lock:
            self.method = method
            self.done = offset
            self._start_done = offset
            self.started_attempt = time.time()

    def advance_to(self, done):
        """The far side now has `done` bytes; counts the wire bytes since the last call."""
        with self._lock:
            done = min(int(done), self.total) if self.total else int(done)
            if done > self.done:
                self.sent += done - self.done
                self.done = done

    def finish(self, state):
        with self._lock:
            self.state = state
            self.finished = time.time()
            if state == "done":
                self.done = self.total

    @property
    def elapsed(self):
        return (self.finished or time.time()) - self.started

    @property
    def speed(self):
        t0 = getattr(self, "started_attempt", self.started)
        dt = (self.finished or time.time()) - t0
        return (self.done - self._start_done) / dt if dt > 0 else 0.0

    @property
    def percent(self):
        return 100.0 * self.done / self.total if self.total else 100.0

    @property
    def eta(self):
        sp = self.speed
        return (self.total - self.done) / sp if sp > 0 else None

    def snapshot(self):
        return {"node": self.node, "file": self.path, "direction": self.direction, "method": self.method,
                "state": self.state, "total": self.total, "done": self.done, "sent": self.sent,
                "percent": round(self.percent, 1), "speed": round(self.speed), "eta": self.eta,
                "elapsed": round(self.elapsed, 3)}


class Reporter(object):
    """Shows progress: rich bars on a console, else a plain line every 10 % or 10 s."""

    def __init__(self, console=None, interval=10.0):
        self.console = console
        self.interval = interval
        self._bars = None
        self._tasks = {}
        self._last = {}
        self._lock = threading.Lock()

    def _rich(self):
        if self._bars is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            self._bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(), console=self.console,
                                  transient=False)
            self._bars.start()
        return self._bars

    def update(self, p):
        with self._lock:
            if self.console is not None:
                bars = self._rich()
                key = id(p)
                if key not in self._tasks:
                    self._tasks[key] = bars.add_task("%s %s" % (p.node, p.path.rsplit("/", 1)[-1]), total=p.total)
                bars.update(self._tasks[key], completed=p.done)
                return
            if p.state != "running":
                return  # the caller logs the outcome line
            now = time.time()
            last_t, last_pct = self._last.get(id(p), (p.started, 0.0))
            if p.percent - last_pct >= 10 or now - last_t >= self.interval:
                self._last[id(p)] = (now, p.percent)
                eta = p.eta
                log.info(_("{node}: {file} {percent}% {done}/{total} {speed}, {eta} remaining").format(
                    node=p.node, file=p.path.rsplit("/", 1)[-1], percent=int(p.percent),
                    done=human_size(p.done), total=human_size(p.total), speed=human_speed(p.speed),
                    eta=human_duration(eta) if eta is not None else "?"))

    def close(self):
        with self._lock:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None
