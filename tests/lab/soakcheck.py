"""What a soak checks after each upgrade -> rollback cycle (issue 19): the controller's peak memory
and open files per command, the state dir's size, the backups kept on every node and on the
controller, and the drift of the nodes. bench/soak.py runs 20 cycles with it; the lab suite's
tests/integration/test_rollback.py records a cycle after each of its rollbacks and applies the
same rule. Python 3.6 syntax.

The rule (check()): every cycle, no drift (the nodes' snapshot after the rollback equals the one
before the upgrade), and no node and not the controller holds more backups than [backup] keep (with
`full_from`: exactly keep from that cycle on) after an upgrade that completed (retention applies
after a completed run only). After the warm-up cycles (retention reaches its steady state once
`keep` runs exist), the least-squares trend of each measure over the remaining cycles may rise by
at most its noise allowance across them: controller peak RSS max(8 MB, 5 %), peak open files 3, the
state dir without the rollback history and the controller log 256 KB, or twice the measure's own
noise (the standard deviation around the trend) when that is more: sampled open files jump by 10-20
between cycles with the moment of the sample. The rollback history keeps one entry per rollback
session by design (retention never prunes it): it must grow by exactly one entry per cycle. The
controller log must stay within its rotation's bound (every command appends to it: it grew ~17 KB a
cycle before it was rotated).

The trend rule needs cycles that do the same work (bench/soak.py). The lab suite's cycles are
different tests (a failed plugin, a killed rollback, a manual one step at a time): their peak open
files and their runs' sizes differ by test, and a failed run's backup and logs stay until the next
completed one. So Cycles, the lab suite's short soak, applies the rules that hold for any cycle
(drift, backups within keep, one history entry, the log's bound) and leaves the trends to the soak.
"""
import json
import os
import subprocess
import tempfile
import threading
import time

# Noise allowances: what the trend of a measure may rise across the cycles after the warm-up.
# A cycle's measure whose key ends with one of these gets its allowance (e.g. up_rss_kb, rb_fds).
ALLOWANCE = (
    ("rss_kb", lambda median: max(8 * 1024, 0.05 * median)),
    ("fds", lambda median: 3),
    ("state_bytes", lambda median: 256 * 1024),
)
HISTORY = "rollback_history.json"
# Left out of the state dir's size: the rollback history (one entry per session by design: its
# entries are counted) and the controller log, bounded by its rotation (log.LOG_MAX_BYTES x
# (LOG_KEEP + 1), checked on its own: log_bytes).
LOG = "controller.log"
LOG_BOUND = 3 * 8 * 1024 * 1024
NOT_STATE = (HISTORY, LOG, LOG + ".1", LOG + ".2")


class Measured:
    """A finished command: rc, output (stdout and stderr), seconds, peak RSS in KB (the largest of
    the command's process and every descendant it waited for: wait4's ru_maxrss) and peak open
    files of the command's own process (sampled every `every` seconds); cpu_s: its CPU seconds
    (user + system, with the descendants it waited for)."""

    def __init__(self, rc, output, seconds, rss_kb, fds, cpu_s=0.0):
        self.rc, self.output, self.seconds, self.rss_kb, self.fds = rc, output, seconds, rss_kb, fds
        self.cpu_s = cpu_s


def open_files(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def run_measured(argv, timeout=1800, env=None, every=0.05):
    """Run argv (the controller: bin/upgrade.sh and bin/rollback_tool exec their Python, so the
    process is the controller) and measure it; the output goes through a file, not a pipe that
    could fill while nobody reads it."""
    with tempfile.TemporaryFile(mode="w+b") as out:  # bytes: TemporaryFile's errors= is Python 3.8+
        t0 = time.time()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], open_files(proc.pid))
                done.wait(every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        killer = threading.Timer(timeout, proc.kill)  # past its timeout: killed, its rc says so
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            done.set()
            sampler.join()
        proc.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        return Measured(proc.returncode, text, time.time() - t0, usage.ru_maxrss, peak[0],
                        usage.ru_utime + usage.ru_stime)


def dir_bytes(path, skip=()):
    """The bytes of every file under path (names in skip left out)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name in skip:
                continue
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def log_bytes(state_dir):
    """The controller log's bytes, its rotated files included."""
    logs = os.path.join(state_dir, "logs")
    return sum(os.path.getsize(os.path.join(logs, n)) for n in NOT_STATE[1:] if os.path.exists(os.path.join(logs, n)))


def controller_backups(state_dir):
    """The backups the controller keeps manifests of (<state_dir>/backups/<id>/)."""
    root = os.path.join(state_dir, "backups")
    return len([d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))]) if os.path.isdir(root) else 0


def node_backups(names, ssh, backup_dir="/backup"):
    """{node: set of the backup directories under backup_dir} (ssh(node, command) -> its result),
    the nodes asked at once."""
    command = "find %s -mindepth 1 -maxdepth 1 -type d -printf '%%P\\n' 2>/dev/null; true" % backup_dir
    found = {}

    def ask(name):
        found[name] = set(ssh(name, command).stdout.split())
    threads = [threading.Thread(target=ask, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = [n for n in names if n not in found]
    if missing:
        raise RuntimeError("could not list the backups of %s" % ", ".join(missing))
    return found


def history_entries(state_dir):
    """The entries of the controller's rollback history (one per rollback session)."""
    path = os.path.join(state_dir, HISTORY)
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return len(json.load(f).get("rollback_history", []))


class Cycles:
    """The soak's checks on the upgrade -> rollback cycles of a lab suite's module: record() after
    each rollback with the commands measured since the last one (run_measured) and the nodes'
    drift; it returns check()'s problems so far, the trends left out (the module's cycles are
    different tests). Backups on the nodes that existed before (other state dirs) are left out of
    the counts."""

    def __init__(self, state_dir, names, ssh, keep=3, backup_dir="/backup"):
        t0 = time.time()
        self.state_dir, self.names, self.ssh, self.keep, self.backup_dir = state_dir, names, ssh, keep, backup_dir
        self.earlier = node_backups(names, ssh, backup_dir)
        self.rows, self.seen = [], 0
        self.seconds = time.time() - t0  # what the checks cost the suite (the commands' sampling aside)

    def record(self, measured, drift):
        """measured: every Measured of the module so far (the ones since the last record() count)."""
        t0 = time.time()
        mine, self.seen = measured[self.seen:], len(measured)
        found = node_backups(self.names, self.ssh, self.backup_dir)
        backups = {n: len(found[n] - self.earlier[n]) for n in self.names}
        backups["controller"] = controller_backups(self.state_dir)
        self.rows.append({"retained": not last_run_failed(self.state_dir),
                          "rss_kb": max([m.rss_kb for m in mine] or [0]), "fds": max([m.fds for m in mine] or [0]),
                          "state_bytes": dir_bytes(self.state_dir, skip=NOT_STATE),
                          "log_bytes": log_bytes(self.state_dir),
                          "history": history_entries(self.state_dir), "backups": backups, "drift": drift})
        problems = check(self.rows, self.keep, trends=False)
        self.seconds += time.time() - t0
        return problems


def last_run_failed(state_dir):
    """The controller's latest upgrade run failed (its journal has failures), rolled back or not."""
    with open(os.path.join(state_dir, "current_run.json"), encoding="utf-8") as f:
        with open(json.load(f)["journal"], encoding="utf-8") as j:
            return bool(json.load(j).get("failures"))


def trend_rise(values):
    """How much the least-squares line through values rises from the first to the last point."""
    n = len(values)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2.0, sum(values) / float(n)
    sxx = sum((i - mx) ** 2 for i in range(n))
    slope = sum((i - mx) * (v - my) for i, v in enumerate(values)) / sxx
    return slope * (n - 1)


def residual_sd(values):
    """The standard deviation of values around their least-squares line: the measure's noise."""
    n = len(values)
    if n < 3:
        return 0.0
    mx, my = (n - 1) / 2.0, sum(values) / float(n)
    slope = sum((i - mx) * (v - my) for i, v in enumerate(values)) / sum((i - mx) ** 2 for i in range(n))
    return (sum((v - my - slope * (i - mx)) ** 2 for i, v in enumerate(values)) / (n - 2)) ** 0.5


def median(values):
    s = sorted(values)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2.0 if s else 0.0


def check(cycles, keep, warmup=None, full_from=None, trends=True):
    """The problems of a soak so far (an empty list: it passes). cycles: one dict per cycle, in
    order, with the measures (keys ending in rss_kb, fds, state_bytes: ALLOWANCE), history (entries
    of the rollback history), backups ({node or "controller": count}) and drift ("" or the lines
    that differ); "retained": False for a cycle whose upgrade failed (retention applies after a
    completed run only: the backups of failed runs wait for the next one). trends=False: no trend
    rule (cycles that do different work)."""
    problems = []
    for i, c in enumerate(cycles, 1):
        if c["drift"]:
            problems.append("cycle %d: the nodes drifted from the state before the upgrade:\n%s" % (i, c["drift"]))
        for where, count in sorted(c["backups"].items() if c.get("retained", True) else ()):
            if count > keep or (full_from is not None and i >= full_from and count != keep):
                problems.append("cycle %d: %s holds %d backups, the retention setting keeps %d" % (
                    i, where, count, keep))
        if c.get("log_bytes", 0) > LOG_BOUND:
            problems.append("cycle %d: the controller log takes %d bytes, its rotation keeps at most %d" % (
                i, c["log_bytes"], LOG_BOUND))
        if i > 1 and c["history"] != cycles[i - 2]["history"] + 1:
            problems.append("cycle %d: the rollback history went from %d to %d entries (one rollback each cycle)" % (
                i, cycles[i - 2]["history"], c["history"]))
    steady = cycles[(keep + 1 if warmup is None else warmup):]
    if trends and len(steady) >= 3:
        measures = [(k, a) for k in sorted(steady[0]) for end, a in ALLOWANCE if k.endswith(end)]
        for measure, allowance in measures:
            values = [c[measure] for c in steady]
            rise = trend_rise(values)
            limit = max(allowance(median(values)), 2 * residual_sd(values))
            if rise > limit:
                problems.append("%s grows: its trend rises by %.0f over the last %d cycles (noise allowance %.0f): %s"
                                % (measure, rise, len(values), limit, " ".join(str(v) for v in values)))
    return problems
