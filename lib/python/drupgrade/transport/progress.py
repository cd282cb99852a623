"""Transfer progress (T7, §4.1.5): file, speed, percent, remaining time; bars in the live display
on a tty (drupgrade.view), plain log lines otherwise; human sizes and durations in both languages."""
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
    """Shows progress: a bar in the command's live display while there is one (drupgrade.view),
    else a plain line every 10 % or 10 s."""

    def __init__(self, live=None, interval=10.0):
        self.live = live or (lambda: None)
        self.interval = interval
        self._last = {}
        self._lock = threading.Lock()

    def update(self, p):
        display = self.live()
        if display is not None:
            display.transfer(p)  # its bar while it runs, gone when it ended
            return
        with self._lock:
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
        pass
