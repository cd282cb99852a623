"""The run report (issue 18): one JSON document and one self-contained HTML page per upgrade run,
built from what the controller already keeps (the run's journal and its events, version_state,
the steps' logs, the precheck report, the backups' manifests, the rollback history and sessions).

Written next to the run's journal (<state_dir>/runs/<id>/report.json and report.html) when a command
that changed the nodes ends (Runner.close: run, resume, retry, their automatic rollback, and every
rollback_tool session, whose report is the one of the run it rolls back); `upgrade.sh report` writes
and shows it on demand. The HTML is report_html.py. The JSON's schema: schemas/report.json.
"""
import calendar
import logging
import os
import re
import time

from drupgrade import catalog, i18n, journal, rolling, state, steps, versions
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _

LOG = logging.getLogger("drupgrade.report")
SCHEMA_ID = "drupgrade.report/1"
JSON_NAME, HTML_NAME = "report.json", "report.html"
TIMEOUT_RC = 124  # the engine's exit code of an attempt ended by its timeout
TAIL_LINES = 20  # lines of a step's log shown with a failed attempt
TAIL_CHARS = 4000
CONTEXT_CHARS = 16000
WARNINGS_MAX = 200
LOG_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] \[([A-Z]+)\] (.*)$")


def files(state_dir, run_id):
    """(report.json, report.html) of a run: beside its journal."""
    d = os.path.join(state_dir, "runs", run_id)
    return os.path.join(d, JSON_NAME), os.path.join(d, HTML_NAME)


def find_run(state_dir, run_id=None):
    """The journal of run `run_id` (None: the latest run), or exit 2 naming the run and the known ones."""
    runs_dir = os.path.join(state_dir, "runs")
    known = sorted(n for n in (os.listdir(runs_dir) if os.path.isdir(runs_dir) else ())
                   if os.path.isfile(os.path.join(runs_dir, n, "journal.json")))
    if run_id is None:
        pointer = state.read_json(os.path.join(state_dir, "current_run.json"), schema="state_pointer")
        run_id = pointer["run_id"] if pointer and pointer.get("run_id") in known else (known[-1] if known else None)
        if run_id is None:
            raise DrupgradeError(_("no upgrade has run yet: there is no run to report"), code=EXIT_USAGE,
                                 hint=_("a report is written at the end of every 'bin/upgrade.sh run'"))
    if run_id not in known:
        raise DrupgradeError(_("unknown run {run}").format(run=run_id), code=EXIT_USAGE,
                             hint=_("the runs this controller knows: {runs}").format(runs=", ".join(known) or "-"))
    return journal.Journal.load(os.path.join(runs_dir, run_id, "journal.json"))


# -- the document ------------------------------------------------------------------------------
def seconds_between(start, end):
    from drupgrade.estimates import parse_time
    a, b = parse_time(start), parse_time(end)
    return round(b - a, 1) if a is not None and b is not None else None


def attempts_of(data):
    """{result key: [attempt]} from the journal's events: each begin (status running, attempt N)
    paired with its end (status ok or failed, the same attempt). An attempt whose end was never
    journaled is running (its result still is) or lost (interrupted, then tried again)."""
    found = {}
    for e in data.get("events", []):
        k = e.get("key")
        if not k or "status" not in e or "attempts" not in e:
            continue
        n = e["attempts"]
        items = found.setdefault(k, {})
        if e["status"] == journal.RUNNING:
            items[n] = {"attempt": n, "start": e.get("started") or e.get("time"), "end": None, "result": "lost",
                        "rc": None, "seconds": None}
        elif e["status"] in (journal.OK, journal.FAILED) and n in items:
            a = items[n]
            a["end"] = e.get("ended") or e.get("time")
            a["rc"] = e.get("rc")
            a["result"] = "ok" if e["status"] == journal.OK else "timeout" if e.get("rc") == TIMEOUT_RC else "failed"
            a["seconds"] = seconds_between(a["start"], a["end"])
    results = data.get("results", {})
    out = {}
    for k, items in found.items():
        attempts = [items[n] for n in sorted(items)]
        current = results.get(k, {})
        if attempts and attempts[-1]["end"] is None and current.get("status") == journal.RUNNING \
                and current.get("attempts") == attempts[-1]["attempt"]:
            attempts[-1]["result"] = "running"
        out[k] = attempts
    return out


def log_file(log_dir, hop, node, step, attempt="", suffix=".log"):
    """A step's log on the controller: logs/<run>/<node>/<step>[.attemptN].log (the engine keeps an
    earlier attempt's log as .attemptN), a later hop's own where it is kept apart (<step>.hopN...)."""
    names = [step + attempt + suffix]
    if hop not in ("hop1", "run"):
        names.insert(0, "%s.%s%s%s" % (step, hop, attempt, suffix))
    for name in names:
        path = os.path.join(log_dir, node, name)
        if os.path.isfile(path):
            return path
    return None


def tail(path, lines=TAIL_LINES):
    """The last lines of a file (None: no file), cleaned of terminal control characters."""
    text = _read(path, from_end=True)
    return None if text is None else clean("\n".join(text.splitlines()[-lines:])[-TAIL_CHARS:])


def head(path):
    """A file from its beginning, CONTEXT_CHARS at most (a timeout's context: processes first)."""
    text = _read(path, from_end=False)
    if text is None:
        return None
    return clean(text[:CONTEXT_CHARS] + ("\n…" if len(text) > CONTEXT_CHARS else ""))


def _read(path, from_end):
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            if from_end:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
            return f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return None


def clean(text):
    """Node text made safe to keep: no terminal control characters, password-looking parts masked."""
    from drupgrade import log, safetext
    return log.redact_patterns(safetext.clean(text))


def warnings_of(state_dir, start, end):
    """The controller log's warnings between two journal times ([WARNING] lines, local time)."""
    from drupgrade.estimates import parse_time
    t0, t1 = parse_time(start), parse_time(end) if end else time.time()
    path = os.path.join(state_dir, "logs", "controller.log")
    if t0 is None or not os.path.isfile(path):
        return []
    found = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LOG_LINE.match(line.rstrip("\n"))
            if not m or m.group(2) != "WARNING":
                continue
            when = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
            if t0 - 1 <= when <= t1 + 1:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
                found.append({"time": stamp, "text": m.group(3)})
    return found[-WARNINGS_MAX:]


def precheck_of(state_dir, data, earlier):
    """The precheck report the run's precheck wrote (<state_dir>/precheck/report.json, while no later
    precheck replaced it), with the answers given; else the one an earlier report kept."""
    from drupgrade.estimates import parse_time
    path = os.path.join(state_dir, "precheck", "report.json")
    try:  # the controller's own file in its private state dir; the page escapes every text of it
        found = state.read_json(path)
    except DrupgradeError:  # damaged: the report goes without it
        found = None
    if isinstance(found, dict):
        t, t0 = parse_time(found.get("created")), parse_time(data.get("started") or data.get("created"))
        t1 = parse_time(data.get("ended")) or time.time()
        if t is not None and t0 is not None and t0 - 1 <= t <= t1 + 1:
            return {"file": path, "report": found}
    return earlier


def build(runner, run, earlier=None):
    """The report document of journal `run` (a dict; schemas/report.json). earlier: the document
    written before (what it kept that the state dir no longer has: the run's precheck report)."""
    data = run.data
    run_id = data["run_id"]
    state_dir = runner.state_dir
    log_dir = os.path.join(state_dir, "logs", run_id)
    all_steps = runner.steps()
    order = {s.name: i for i, s in enumerate(all_steps)}
    by_name = {s.name: s for s in all_steps}
    vs = runner.version_state(run)["version_state"]
    hops = [tuple(h) for h in data.get("hops", [])]
    try:
        bound = runner.strategies(hops)
    except DrupgradeError as e:
        LOG.debug("strategies: %s", e)
        bound = {}
    hop_info = data.get("hop_info") or {}
    hop_nodes = data.get("hop_nodes") or {}
    attempts = attempts_of(data)
    known = catalog.Catalog(state_dir, [n.name for n in runner.cfg.nodes])
    backups = known.backups()

    plan = []
    for i, (src, dst) in enumerate(hops):
        hop = "hop%d" % (i + 1)
        strategy = bound.get((src, dst), (None, None))[0]
        plan.append({"hop": hop, "from": src, "to": dst, "strategy": strategy.id if strategy else None,
                     "strategy_name": strategy.name if strategy else None,
                     "backup_id": (hop_info.get(hop) or {}).get("backup_id"),
                     "nodes": hop_nodes.get(hop) or sorted(data.get("versions_before", {}))})

    rows = []
    for r in run.results():
        if not r.attempts and r.status != journal.RUNNING:
            continue  # queued, never began
        s = by_name.get(r.step)
        rows.append({"hop": r.hop, "step": r.step, "node": r.node, "phase": s.phase if s else None,
                     "summary": s.summary if s else "", "status": r.status, "attempts": attempts.get(r.key, []),
                     "reason": r.reason, "elapsed": r.get("elapsed"), "plugins": r.get("plugins") or []})
    hop_order = {"run": 0}
    hop_order.update({"hop%d" % (i + 1): i + 1 for i in range(len(hops))})
    rows.sort(key=lambda x: (hop_order.get(x["hop"], 99), order.get(x["step"], 999), x["node"]))

    retries, timeouts = [], []
    for row in rows:
        failed = [a for a in row["attempts"] if a["result"] != "ok"]
        if failed:  # the log of its last attempt that did not succeed (an earlier one's: <step>.attemptN.log)
            last = failed[-1]["attempt"]
            own = "" if last == row["attempts"][-1]["attempt"] else ".attempt%d" % last
            log = log_file(log_dir, row["hop"], row["node"], row["step"], own)
            retries.append({"hop": row["hop"], "step": row["step"], "node": row["node"], "phase": row["phase"],
                            "attempts": len(row["attempts"]), "status": row["status"], "reason": row["reason"],
                            "results": [a["result"] for a in row["attempts"]], "log": log, "log_tail": tail(log)})
        for a in row["attempts"]:
            if a["result"] == "timeout":
                context = log_file(log_dir, row["hop"], row["node"], row["step"], suffix=".timeout-context.txt")
                timeouts.append({"hop": row["hop"], "step": row["step"], "node": row["node"], "phase": row["phase"],
                                 "attempt": a["attempt"], "seconds": a["seconds"],
                                 "timeout": runner.cfg.timeouts.get(row["step"], by_name[row["step"]].timeout)
                                 if row["step"] in by_name else None,
                                 "context": context, "context_text": head(context)})
    restarts = [{"hop": e.get("hop"), "step": e.get("step"), "time": e.get("time")}
                for e in data.get("events", []) if e.get("event") == "restart_at"]

    nodes = []
    for name, before in sorted(data.get("versions_before", {}).items()):
        mine = [x for x in rows if x["node"] == name]
        result = "ok"
        if any(x["status"] == journal.FAILED for x in mine):
            result = "failed"
        elif any(x["status"] in (journal.RUNNING, journal.RETRY) for x in mine):
            result = "unfinished"
        after = vs["nodes"].get(name, {}).get("current_version", "v" + before)[1:]
        nodes.append({"name": name, "before": before, "after": after, "result": result,
                      "steps": len(mine), "attempts": sum(len(x["attempts"]) for x in mine)})

    backup_rows = []
    for item in plan:
        bid = item["backup_id"]
        if not bid:
            continue
        b = backups.get(bid)
        backup_rows.append({"backup_id": bid, "hop": item["hop"], "from": item["from"], "to": item["to"],
                            "status": runner.backup_status(run, item["hop"], hop_info[item["hop"]]),
                            "problem": known.problem(b) if b else None,
                            "timestamp": b["timestamp"] if b else None, "nodes": sorted(b["manifests"]) if b else []})

    rollbacks = []
    numbered = sorted(steps.rollback_steps(), key=lambda s: s.number)
    for e in known.history()["rollback_history"]:
        if e.get("upgrade_run") != run_id:
            continue
        entry = {k: e.get(k) for k in ("rollback_id", "timestamp", "backup_used", "from_version", "to_version",
                                       "rollback_type", "duration", "status", "trigger")}
        entry["steps"], entry["ended"] = session_steps(state_dir, e["rollback_id"], numbered)
        rollbacks.append(entry)

    started = data.get("started") or data.get("created")
    ended = data.get("ended")
    if ended is None and run.status not in journal.UNFINISHED:  # closed by its rollback: when that ended
        ended = max([r["ended"] for r in rollbacks if r.get("ended")] + [
            e["time"] for e in data.get("events", [])[-1:] if e.get("time")], default=None)
    doc = {
        "schema": SCHEMA_ID,
        "generated": state.now_iso(),
        "lang": i18n.current_lang(),
        "product": data.get("product") or runner.cfg.product_name,
        "run_id": run_id,
        "status": data.get("status"),
        "outcome": vs["upgrade_status"],
        "target": data.get("target"),
        "from": sorted(set(data.get("versions_before", {}).values()), key=versions.key),
        "upgrade_mode": data.get("upgrade_mode"),
        "path": [v[1:] for v in rolling.path(hops)],
        "fallback_reason": data.get("fallback_reason"),
        "started": started,
        "ended": ended,
        "duration_s": seconds_between(started, ended) if ended else None,
        "failed_phase": data.get("failed_phase"),
        "failures": data.get("failures", []),
        "nodes": nodes,
        "plan": plan,
        "steps": rows,
        "retries": retries,
        "restarts": restarts,
        "timeouts": timeouts,
        "warnings": warnings_of(state_dir, started, ended),
        "precheck": precheck_of(state_dir, data, (earlier or {}).get("precheck")),
        "backups": backup_rows,
        "rollbacks": rollbacks,
    }
    return doc


def session_steps(state_dir, rollback_id, numbered):
    """A rollback session's numbered steps (number, step, label, status, seconds, failures) and when
    it ended (None: it has not)."""
    path = os.path.join(state_dir, "rollbacks", rollback_id, "journal.json")
    try:
        session = journal.Journal.load(path)
    except (FileNotFoundError, DrupgradeError):
        return [], None
    found = []
    for s in numbered:
        rec = session.session_step(s.number)
        found.append({"step": s.number, "name": s.name, "label": s.label, "status": rec["status"],
                      "seconds": rec.get("elapsed"), "failures": rec.get("failures", [])})
    return found, session.data.get("ended")


# -- files -------------------------------------------------------------------------------------
def write(runner, run):
    """report.json and report.html of the run, beside its journal: (json path, html path, document)."""
    from drupgrade import report_html
    json_path, html_path = files(runner.state_dir, run.data["run_id"])
    earlier = None
    if os.path.isfile(json_path):
        try:
            earlier = state.read_json(json_path)
        except DrupgradeError:
            earlier = None
    doc = build(runner, run, earlier if isinstance(earlier, dict) else None)  # schemas/report.json: the tests
    state.atomic_write_json(json_path, doc, durable=False)  # rebuilt from the journals by every command
    text = report_html.render(doc)
    tmp = html_path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, html_path)
    return json_path, html_path, doc


def after_command(runner, run_id):
    """At the end of a command that changed the nodes (Runner.close): the report of its run, or of
    the run its rollback session rolls back. Never changes how the command ends: a report that
    cannot be written is a warning naming the file."""
    path = os.path.join(runner.state_dir, "runs", run_id or "")
    try:
        if run_id and not os.path.isdir(path):  # a rollback session: the report of its run
            session = state.read_json(os.path.join(runner.state_dir, "rollbacks", run_id, "journal.json"))
            run_id = (session or {}).get("upgrade_run")
            path = os.path.join(runner.state_dir, "runs", run_id or "")
        if not run_id or not os.path.isfile(os.path.join(path, "journal.json")):
            return None
        json_path, html_path, _doc = write(runner, find_run(runner.state_dir, run_id))
        LOG.info(_("run report: {html} ({json})").format(html=html_path, json=json_path))
        return json_path, html_path
    except Exception as e:  # noqa: BLE001 - a report never hides how the run ended
        LOG.debug("report", exc_info=True)
        LOG.warning(_("the run report could not be written to {dir}: {detail}").format(
            dir=path, detail=getattr(e, "message", None) or e))
        return None


def iso_to_local(text):
    """A journal time as the operator's local clock shows it (YYYY-mm-dd HH:MM:SS)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(calendar.timegm(
            time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))))
    except (TypeError, ValueError):
        return text or "-"
