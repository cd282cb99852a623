"""What the operator sees while a run or a rollback works: on a terminal one rich Live display for
the whole command (a panel that updates in place, the transfers' bars inside it while they run, the
log lines scrolling above it, a summary left on screen at the end); not on a terminal, --plain or
TERM=dumb: the log's plain lines alone (Context.console is None there).

The panel of `upgrade.sh run|resume|retry` (RunPanel) is a table of the nodes; it follows the
journal's events (Journal.subscribe: every step's start and end, its warnings and retries), it never
reads files. rollback_tool's panel is its progress box (rollback.Progress). One display at a time
in a process: the transfers and the questions find it with current() and paused().
"""
import contextlib
import io
import threading
import time

from drupgrade import steps as steps_mod
from drupgrade import timeouts
from drupgrade.i18n import N_, _
from drupgrade.journal import FAILED, OK, QUEUED, RETRY, RUNNING

# A run's or a rollback's status as the summary's title says it, in the operator's language.
# The summary is drawn when the command ends: a run still "running" there was interrupted.
STATUS_WORDS = {"done": N_("done"), "failed": N_("failed"), "partial": N_("partial"), "running": N_("interrupted"),
                "in_progress": N_("interrupted"), "rolling_back": N_("rolling back"), "rolled_back": N_("rolled back")}

REFRESH = 2  # redraws per second (the elapsed times count seconds)
ESTIMATE_EVERY = 2.0  # seconds between two reads of the run's estimated time left
MARKS = {RUNNING: "▶", OK: "✓", FAILED: "✗", QUEUED: "○", RETRY: "↻"}  # RETRY: also the retries' count
COLOURS = {RUNNING: "bold cyan", OK: "green", FAILED: "bold red", RETRY: "yellow"}
BAR = 10  # cells of a node's progress bar

_current = None  # the Display live in this process (one at a time)


def current():
    """The display live now, or None (not on a terminal, or nothing runs)."""
    return _current


@contextlib.contextmanager
def paused():
    """A question asked on the terminal: the live display steps aside until it is answered."""
    display = _current
    if display is None:
        yield
        return
    with display.paused():
        yield


def clock(seconds):
    """Elapsed seconds as m:ss (h:mm:ss past an hour): narrow, the same in every language."""
    m, sec = divmod(int(max(0, seconds)), 60)
    h, m = divmod(m, 60)
    return "%d:%02d:%02d" % (h, m, sec) if h else "%d:%02d" % (m, sec)


def bar(done, total, width=BAR):
    """done/total as a text bar of `width` cells (the rollback box's look)."""
    full = width * done // total if total else width
    return "█" * full + "░" * (width - full)


class _Lines(io.TextIOBase):
    """sys.stdout and sys.stderr while the display is live: each complete line is printed above the
    display as it is (not wrapped by rich: the terminal wraps a long line, and a copy of it stays one
    line). The console finds the real file behind it (rich_proxied_file)."""

    def __init__(self, console, file):
        super().__init__()
        self.console = console
        self.rich_proxied_file = file
        self.buf = ""
        self.lock = threading.Lock()

    def write(self, text):
        from rich.text import Text
        with self.lock:
            lines = (self.buf + text).split("\n")
            self.buf = lines.pop()
        for line in lines:
            self.console.print(Text(line), soft_wrap=True)
        return len(text)

    def flush(self):
        with self.lock:
            rest, self.buf = self.buf, ""
        if rest:
            self.write(rest + "\n")

    def isatty(self):
        return True

    def fileno(self):
        return self.rich_proxied_file.fileno()

    @property
    def encoding(self):
        return getattr(self.rich_proxied_file, "encoding", "utf-8")


class Display:
    """One rich Live on `console` showing `panel` (an object with render(width) -> a renderable and
    summary() -> renderables for the end) and the transfers' bars below it."""

    def __init__(self, console, panel):
        self.console = console
        self.panel = panel
        self.transfers = {}  # id(TransferProgress) -> the transfer, while it runs
        self.lock = threading.Lock()
        self.live = None
        self._streams = None

    # -- on and off ---------------------------------------------------------------------------------
    def __enter__(self):
        global _current
        self._start()
        _current = self
        return self

    def __exit__(self, *exc):
        global _current
        _current = None
        self._stop()
        for part in self.panel.summary():
            self.console.print(part)
        return False

    def _start(self):
        import sys

        from rich.live import Live
        self.live = Live(self, console=self.console, refresh_per_second=REFRESH, transient=True,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = _Lines(self.console, sys.stdout)
        sys.stderr = _Lines(self.console, sys.stderr)

    def _stop(self):
        import sys
        if self._streams is not None:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            sys.stdout, sys.stderr = self._streams
            self._streams = None
        if self.live is not None:
            self.live.stop()
            self.live = None

    @contextlib.contextmanager
    def paused(self):
        """The live part erased and the streams the terminal's own, until the block ends."""
        self._stop()
        try:
            yield
        finally:
            self._start()

    # -- what changes -------------------------------------------------------------------------------
    def transfer(self, p):
        """A transfer's progress (transport.progress.TransferProgress): its bar while it runs."""
        with self.lock:
            if p.state == "running":
                self.transfers[id(p)] = p
            else:
                self.transfers.pop(id(p), None)

    # -- drawing ------------------------------------------------------------------------------------
    def __rich_console__(self, console, options):
        yield self.panel.render(options.max_width)
        with self.lock:  # a transfer that failed ends without a last update: gone all the same
            self.transfers = {k: p for k, p in self.transfers.items() if p.state == "running"}
            running = list(self.transfers.values())
        if running:
            yield transfer_table(running, options.max_width)


def transfer_table(transfers, width):
    """One row per running transfer: node, file, bar, bytes, speed, time left."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    from drupgrade.transport.progress import human_duration, human_size, human_speed
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis", max_width=max(10, width // 3))
    table.add_column(no_wrap=True, width=max(10, min(40, width // 5)))
    table.add_column(no_wrap=True, justify="right")
    table.add_column(no_wrap=True, justify="right")
    table.add_column(no_wrap=True, justify="right")
    for p in sorted(transfers, key=lambda t: (t.node, t.path)):
        eta = p.eta
        table.add_row(p.node, p.path.rsplit("/", 1)[-1], ProgressBar(total=max(p.total, 1), completed=p.done),
                      "%s/%s" % (human_size(p.done), human_size(p.total)), human_speed(p.speed),
                      human_duration(eta) if eta is not None else "?")
    return table


# -- the upgrade run's panel --------------------------------------------------------------------------
class NodeRow:
    """What the panel knows of one node (or the controller) from the journal's events."""

    def __init__(self, name, total):
        self.name = name
        self.total = total  # the node's steps in the run (every hop's)
        self.done = set()  # (hop, step) done there
        self.step = None  # the step it runs now, or ran last
        self.status = None
        self.hop = None
        self.started = None  # time.time() the running step began (as seen here)
        self.extra = {}  # (hop, step) -> (warnings, retries)

    @property
    def warnings(self):
        return sum(w for w, _r in self.extra.values())

    @property
    def retries(self):
        return sum(r for _w, r in self.extra.values())


class RunPanel:
    """The table of an upgrade run's nodes: phase, current step, elapsed, progress, warnings; above it
    the run's path, phase and overall progress with the estimated completion."""

    def __init__(self, up, journal, remaining=None, after=None):
        """up: the engine (engine.Upgrade) of the run; remaining: the run's estimated seconds left
        (None: unknown); after: {node: version} each node runs now (for the summary)."""
        self.journal = journal
        self.remaining = remaining or (lambda: None)
        self.after = after or (lambda: {})
        self.phase_of = {s.name: s.phase for s in up.steps}
        self.lock = threading.Lock()
        self.rows = {}
        for name, total in sorted(node_units(up, journal).items(), key=lambda kv: (kv[0] == "controller", kv[0])):
            self.rows[name] = NodeRow(name, total)
        self.phase = None
        self.hop = None
        self.t0 = time.time()
        self.left = None
        self._stop = threading.Event()
        for r in journal.results():
            self.event(r, seen=True)
        journal.subscribe(self.event)
        self._ticker = threading.Thread(target=self._estimate, name="view-estimate", daemon=True)
        self._ticker.start()

    def _estimate(self):
        """The run's time left, read now and then outside every lock of the display (it reads the journal)."""
        while True:
            try:
                self.left = self.remaining()
            except Exception:  # noqa: BLE001 - an estimate is never worth a failed run
                self.left = None
            if self._stop.wait(ESTIMATE_EVERY):
                return

    def close(self):
        self.journal.unsubscribe(self.event)
        self._stop.set()

    def event(self, r, seen=False):
        """A result changed in the journal (journal.Result): the node's row follows it."""
        with self.lock:
            row = self.rows.get(r.node)
            if row is None:
                return
            unit = (r.hop, r.step)
            row.extra[unit] = (r.get("warnings", 0), max(0, r.attempts - 1))
            if r.status == OK:
                row.done.add(unit)
            else:
                row.done.discard(unit)
            if r.status in (QUEUED, None) or (seen and r.status != RUNNING and row.status == RUNNING):
                return  # a step waiting its turn, one that never began, or an older one (read at the start)
            if r.status == RUNNING and (row.status != RUNNING or row.step != r.step or row.hop != r.hop):
                row.started = time.time()
            row.step, row.status, row.hop = r.step, r.status, r.hop
            if r.status == RUNNING and r.step in self.phase_of:
                self.phase, self.hop = self.phase_of[r.step], r.hop

    def header(self):
        from rich.text import Text
        data = self.journal.data
        hops = data.get("hops") or []
        path = " -> ".join([hops[0][0]] + [d for _s, d in hops]) if hops else data.get("target", "")
        head = Text(_("upgrade run {run}: {path}").format(run=data.get("run_id"), path=path), style="bold")
        names = steps_mod.phase_names()
        done = sum(len(r.done) for r in self.rows.values())
        total = sum(r.total for r in self.rows.values())
        parts, timing = [], [_("running for {time}").format(time=timeouts.duration(time.time() - self.t0))]
        if self.phase in names:
            where = _("phase {n}/{total}: {phase}").format(n=names.index(self.phase) + 1, total=len(names),
                                                            phase=steps_mod.phase_label(self.phase))
            if self.hop and self.hop != "run" and len(hops) > 1:
                where += " (" + _("hop {n}/{total}").format(n=self.hop[3:], total=len(hops)) + ")"
            parts.append(where)
        parts.append(_("steps {bar} {done}/{total}").format(bar=bar(done, total), done=done, total=total))
        if self.left is not None and done < total:
            timing.append(_("estimated completion {at} ({left} left)").format(
                at=time.strftime("%H:%M:%S", time.localtime(time.time() + self.left)),
                left=timeouts.duration(self.left)))
        return head, Text(" · ".join(parts)), Text(" · ".join(timing))

    def render(self, width):
        from rich import box
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text
        head, line, timing = self.header()
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
        for title in (_("node"), _("phase"), _("current step"), _("elapsed"), _("progress"), _("warnings")):
            table.add_column(title, no_wrap=True, overflow="ellipsis")
        now = time.time()
        size = BAR if width >= 100 else BAR // 2  # 80 columns: every column whole
        with self.lock:
            rows = [(r.name, r.step, r.status, r.started, len(r.done), r.total, r.warnings, r.retries)
                    for r in self.rows.values()]
        for name, step, status, started, done, total, warned, retries in rows:
            phase = self.phase_of.get(step, "")
            if status is None:
                current, phase = Text(MARKS[QUEUED] + " " + _("waiting"), style="dim"), ""
            else:
                current = Text.assemble((MARKS.get(status, " "), COLOURS.get(status, "")), " " + step)
            elapsed = clock(now - started) if status == RUNNING and started else ""
            notes = (str(warned) if warned else "") + (" %s%d" % (MARKS[RETRY], retries) if retries else "")
            table.add_row(name, phase, current, elapsed,
                          Text.assemble((bar(done, total, size), "green" if done == total else "cyan"),
                                        " %d/%d" % (done, total)),
                          Text(notes.strip(), style="yellow"), style="red" if status == FAILED else None)
        return Group(head, line, timing, table)

    def summary(self):
        """What stays on screen: each node's versions before and after, result and elapsed time; the
        run's outcome and what to do next."""
        self.close()
        return summary_parts(self.journal, self.after(), kind="run")


def node_units(up, journal):
    """{node name: how many (hop, step) units the run has there}: the once-per-run steps and every
    hop's steps on the nodes the engine runs them on (the controller's steps: "controller")."""
    hops = ["hop%d" % (i + 1) for i in range(len(journal.data.get("hops") or []))]
    counts = {}
    for step in up.steps:
        for hop in (["run"] if steps_mod.once_per_run(step.phase) else hops):
            for node in up.nodes_for(step, hop):
                counts[node.name] = counts.get(node.name, 0) + 1
    return counts


def summary_parts(journal, after, kind):
    """The summary of a run (kind "run") or a rollback session (kind "rollback") from its journal:
    a table per node and the outcome line with what to do next."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from drupgrade import estimates
    data = journal.data
    before = data.get("versions_before") or {}
    per_node = {}
    for r in journal.results():
        info = per_node.setdefault(r.node, {"start": None, "end": None, "failed": None, "running": None})
        t0, t1 = estimates.parse_time(r.get("started")), estimates.parse_time(r.get("ended"))
        if t0 is not None and (info["start"] is None or t0 < info["start"]):
            info["start"] = t0
        if t1 is not None and (info["end"] is None or t1 > info["end"]):
            info["end"] = t1
        if r.status == FAILED:
            info["failed"] = r.step
        elif r.status == RUNNING:
            info["running"] = r.step
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for title in (_("node"), _("version before -> after"), _("result"), _("elapsed")):
        table.add_column(title, no_wrap=True, overflow="ellipsis")
    for name in sorted(set(before) | {n for n in per_node if n != "controller"}):
        info = per_node.get(name, {})
        if info.get("failed"):
            result, style = _("failed at {step}").format(step=info["failed"]), "red"
        elif info.get("running"):
            result, style = _("interrupted in {step}").format(step=info["running"]), "yellow"
        elif info:
            result, style = _("ok"), "green"
        else:
            result, style = _("not touched"), None
        took = info["end"] - info["start"] if info.get("start") and info.get("end") else None
        table.add_row(name, "%s -> %s" % (before.get(name, "?"), after.get(name, "?")), Text(result, style=style),
                      timeouts.duration(took) if took is not None else "")
    status = data.get("status")
    title = (_("upgrade run {id}: {status}") if kind == "run" else _("rollback {id}: {status}")).format(
        id=data.get("run_id"), status=_(STATUS_WORDS[status]) if status in STATUS_WORDS else status)
    return [Text(title, style="bold"), table, Text(next_step(kind, status, data))]


def next_step(kind, status, data):
    """What the operator does after the run or rollback ended with `status`."""
    if kind == "rollback":
        if status == "done":
            return _("next: 'bin/upgrade.sh status' shows every node; 'bin/upgrade.sh run --to VERSION' upgrades "
                     "again")
        return _("next: fix the cause shown above, then continue with 'bin/rollback_tool auto latest'")
    if status == "done":
        return _("next: 'bin/upgrade.sh status' shows every node; 'bin/rollback_tool list' the backups to roll "
                 "back to")
    if status == "rolling_back":
        return _("next: the run failed after its backup; every node is rolled back to it now (below)")
    if status == "rolled_back":
        return _("next: fix the cause shown above, then upgrade again with 'bin/upgrade.sh run --to {target}'").format(
            target=data.get("target"))
    if status == "failed":
        return _("next: what to do is said above (the failed step, its log, the command that continues)")
    if status == "partial":
        return _("next: the phases asked for are done; 'bin/upgrade.sh status' shows the run")
    return _("next: the run was interrupted; 'bin/upgrade.sh resume' continues it")
