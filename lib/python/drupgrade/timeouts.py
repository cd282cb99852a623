"""Timeouts that explain themselves (design §4.3): progress, early warnings, the timeout block."""
from drupgrade.i18n import N_, _
from drupgrade.steps import phase_label

# Timeout classes of §4.3.4: what the reason says and what to do.
KINDS = {
    "network": (N_("network operation timed out, connection latency: {latency}"),
                N_("check the network state, then retry")),
    "db": (N_("database operation timed out, data volume: {db_size}"),
           N_("consider running the upgrade at an off-peak time; check database performance")),
    "file": (N_("file processing timed out, size: {file_size}"),
             N_("check disk space and disk performance")),
    "service": (N_("service start timed out, port: {port}"),
                N_("check system resources and the service's dependencies")),
    "plugin": (N_("plugin execution timed out: [{subject}]"),
               N_("check the plugin's log; consider skipping the plugin")),
}
PROGRESS_EVERY = 10
REMAINING_EVERY = 30
RESOURCES_EVERY = 60
WARN_AT = (0.85, 0.95)


def duration(seconds):
    """Seconds in the operator's words: 90 -> '1分30秒' / '1 min 30 s'."""
    m, s = divmod(int(round(seconds)), 60)
    if m and s:
        return _("{m} min {s} s").format(m=m, s=s)
    return _("{m} min").format(m=m) if m else _("{s} s").format(s=s)


def size(n):
    try:
        n = float(n)
    except (TypeError, ValueError):
        return str(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return ("%.1f%s" % (n, unit)) if unit != "B" else "%d%s" % (n, unit)
        n /= 1024.0
    return str(n)


def step_label(phase, summary):
    return "[%s] %s" % (phase_label(phase), summary)


class Watch:
    """Decides what to say while a step runs; tick() is called often with the elapsed time.
    what: the step and where it runs ("[backup] node2 stop_db"), at the head of every line."""

    def __init__(self, timeout, what=""):
        self.timeout = timeout
        self.what = what
        self.next_progress = PROGRESS_EVERY
        self.next_remaining = REMAINING_EVERY
        self.next_resources = RESOURCES_EVERY
        self.warned = set()

    def tick(self, elapsed, done=None, total=None, remaining=None):
        """Messages due at `elapsed` seconds: list of (level, text). done/total: the run's steps done
        and in all (the design's "[进度] 35% (7/20 完成)"); remaining: the run's estimated seconds left."""
        out = []
        head = self.what + ": " if self.what else ""
        if elapsed >= self.next_progress:
            self.next_progress += PROGRESS_EVERY
            if done is not None and total:
                out.append(("info", _("[progress] {pct}% ({done}/{total} steps done), {what}running for {elapsed} "
                                      "(timeout {timeout})").format(
                    pct=int(100 * done / total), done=done, total=total, what=head, elapsed=duration(elapsed),
                    timeout=duration(self.timeout))))
            else:
                out.append(("info", _("[progress] {what}running for {elapsed} (timeout {timeout})").format(
                    what=head, elapsed=duration(elapsed), timeout=duration(self.timeout))))
        if elapsed >= self.next_remaining:
            self.next_remaining += REMAINING_EVERY
            if remaining is not None:
                out.append(("info", head + _("estimated remaining: {left}").format(left=duration(remaining))))
            else:
                out.append(("info", head + _("time left before the timeout: {left}").format(
                    left=duration(max(0, self.timeout - elapsed)))))
        for level, mark in zip(("warning", "critical"), WARN_AT):
            if mark not in self.warned and elapsed >= mark * self.timeout:
                self.warned.add(mark)
                text = (_("[warning] the operation will time out soon, {left} left (used: {used}/{timeout})")
                        if level == "warning" else
                        _("[urgent] the operation will time out soon, {left} left (used: {used}/{timeout})"))
                out.append((level, head + text.format(left=duration(max(0, self.timeout - elapsed)),
                                                      used=duration(elapsed), timeout=duration(self.timeout))))
        return out

    def talks(self, elapsed):
        """A progress or remaining line is due at `elapsed` (tick() then wants the run's counts)."""
        return elapsed >= min(self.next_progress, self.next_remaining)

    def next_due(self, elapsed):
        """Seconds until the next thing to say (or the timeout): how long a wait may last."""
        marks = [self.next_progress, self.next_remaining, self.next_resources, self.timeout]
        marks += [m * self.timeout for m in WARN_AT if m not in self.warned]
        return max(0.0, min(marks) - elapsed)

    def resources_due(self, elapsed):
        if elapsed >= self.next_resources:
            self.next_resources += RESOURCES_EVERY
            return True
        return False


def parse_summary(line):
    """drcontext summary output 'cpu=1 mem=2 io=3 …' -> dict."""
    out = {}
    for word in (line or "").split():
        if "=" in word:
            k, v = word.split("=", 1)
            out[k] = v
    return out


def resources_line(facts):
    return _("CPU: {cpu}%, memory: {mem}%, disk IO: {io}%").format(
        cpu=facts.get("cpu", "?"), mem=facts.get("mem", "?"), io=facts.get("io", "?"))


def timeout_block(node, phase, summary, kind, subject, timeout, actual, facts, context_path,
                  latency_ms=None, controller=None):
    """The block of §4.3.2, as lines in the operator's language; controller: the controller's own
    figures (procs.usage), so that a controller short of CPU or memory is seen too."""
    reason_fmt, advice = KINDS.get(kind, KINDS["file"])
    reason = _(reason_fmt).format(
        latency="%s ms" % latency_ms if latency_ms is not None else "?",
        db_size=size(facts.get("db_bytes", "?")), file_size=size(facts.get("file_bytes", "?")),
        port=facts.get("port", subject or "?"), subject=subject or "?")
    return [
        _("[error] upgrade operation timed out on node {node}").format(node=node),
        _("step: {label}").format(label=step_label(phase, summary)),
        _("timeout reason: {reason}").format(reason=reason),
        _("timeout setting: {secs}s ({human})").format(secs=int(timeout), human=duration(timeout)),
        _("actual run time: {secs}s ({human})").format(secs=int(actual), human=duration(actual)),
        _("exceeded by: {secs}s ({human})").format(secs=int(actual - timeout),
                                                    human=duration(actual - timeout)),
        _("current environment: {resources}").format(resources=resources_line(facts)),
    ] + ([_("controller: load {load} on {cpus} CPUs, memory {mem}% in use; drupgrade: {rss} resident, {threads} "
            "threads").format(load=controller["load"], cpus=controller["cpus"], mem=controller["mem"],
                              rss=size(controller["rss"]), threads=controller["threads"])] if controller else []) + [
        _("suggestion: {advice}").format(advice=_(advice)),
        _("context saved in: {path}").format(path=context_path),
    ]
