"""The run report as one self-contained HTML page (report.py's document): inline CSS, an inline SVG
Gantt chart, no script, no external reference (the controller is air-gapped), every text escaped
(node output may hold markup), in the operator's language, printable."""
import html

from drupgrade import __version__, i18n
from drupgrade.i18n import N_, _

COLOURS = {"ok": "#2e7d32", "failed": "#c62828", "timeout": "#ef6c00", "running": "#1565c0", "lost": "#9e9e9e"}
RESULTS = {"ok": N_("ok"), "failed": N_("failed"), "timeout": N_("timed out"), "running": N_("running"),
           "lost": N_("interrupted")}
OUTCOMES = {"completed": N_("completed"), "failed": N_("failed"), "rolled_back": N_("rolled back"),
            "in_progress": N_("in progress"), "rolling_back": N_("rolling back"), "restarted": N_("restarted"),
            "abandoned": N_("abandoned"), "partial": N_("partial")}
OUTCOME_CLASS = {"completed": "good", "failed": "bad", "rolled_back": "bad", "rolling_back": "bad"}
NODE_RESULTS = {"ok": N_("ok"), "failed": N_("failed"), "unfinished": N_("unfinished")}
BACKUP_STATUSES = {"ready": N_("ready"), "removed": N_("removed by retention"), "in_progress": N_("in progress"),
                   "pending": N_("pending")}
SESSION_STEPS = {"done": N_("done"), "failed": N_("failed"), "running": N_("running"), "pending": N_("pending")}
ROW_H, LABEL_W, CHART_W, AXIS_H = 15, 300, 800, 26
TICKS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","DejaVu Sans",
Arial,sans-serif;color:#1f2933;margin:0;background:#f4f6f8;font-size:14px;line-height:1.45}
main{max-width:1160px;margin:0 auto;padding:24px 28px 40px;background:#fff}
header{border-bottom:3px solid #1f4e79;padding-bottom:12px;margin-bottom:18px}
h1{font-size:24px;margin:0 0 4px;color:#1f4e79}
h2{font-size:17px;margin:28px 0 10px;color:#1f4e79;border-bottom:1px solid #d9e2ec;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}
.sub{color:#52606d}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:bold;color:#fff;background:#52606d}
.badge.good{background:#2e7d32}.badge.bad{background:#c62828}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:12px;color:#52606d;font-weight:normal}
.card span{font-size:16px;font-weight:bold}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6;font-weight:600}
td.num{text-align:right}
.r-ok{color:#2e7d32;font-weight:600}.r-failed,.r-timeout{color:#c62828;font-weight:600}
.r-running{color:#1565c0}.r-lost,.r-unfinished{color:#7b8794}
pre{background:#f4f6f8;border:1px solid #d9e2ec;padding:6px 8px;white-space:pre-wrap;word-break:break-all;
font-size:12px;margin:4px 0;max-height:360px;overflow:auto}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.none{color:#7b8794;font-style:italic}
svg text{font-family:inherit}
svg.gantt{max-width:100%;height:auto}
footer{margin-top:30px;color:#7b8794;font-size:12px}
@media print{body{background:#fff}main{max-width:none;padding:0}h2{page-break-after:avoid}
tr,.card,pre{page-break-inside:avoid}pre{max-height:none}}
"""


def e(text):
    return html.escape("" if text is None else str(text), quote=True)


def v(version):
    return "v" + version if version else "-"


def duration(seconds):
    if seconds is None:
        return "-"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return ("%d:%02d:%02d" % (h, m, s)) if h else ("%d:%02d" % (m, s))


def table(head, rows, cls=""):
    out = ['<table%s><thead><tr>' % (' class="%s"' % cls if cls else "")]
    out += ["<th>%s</th>" % e(h) for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(c if isinstance(c, Raw) else "<td>%s</td>" % e(c) for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class Raw(str):
    """A cell already rendered (escaped) by this module."""


def cell(text, cls):
    return Raw('<td class="%s">%s</td>' % (cls, e(text)))


def word(table, value):
    """A status in the operator's language (one this page does not know: as it is)."""
    return _(table[value]) if value in table else value


def text_of(both):
    """A text the precheck keeps in both languages ({'en','zh'}), in the operator's."""
    both = both if isinstance(both, dict) else {}
    return i18n.pick(both.get("en", ""), both.get("zh", ""))


def none(text):
    return '<p class="none">%s</p>' % e(text)


def render(doc):
    """The page of a report document."""
    lang = "zh-CN" if doc["lang"] == "zh" else "en"
    title = _("{product} upgrade run {run}").format(product=doc["product"], run=doc["run_id"])
    parts = ['<!DOCTYPE html>\n<html lang="%s"><head><meta charset="utf-8">' % lang,
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>%s</title><style>%s</style></head><body><main>" % (e(title), CSS)]
    parts += [summary(doc), nodes(doc), plan(doc), timeline(doc), problems(doc), precheck(doc), backups(doc),
              rollbacks(doc)]
    parts.append("<footer>%s</footer></main></body></html>\n" % e(_(
        "written by drupgrade {version} at {time} from the run's journal and logs in the controller's state "
        "directory").format(version=__version__, time=doc["generated"])))
    return "".join(parts)


def summary(doc):
    outcome = doc["outcome"]
    badge = '<span class="badge %s" id="outcome">%s</span>' % (OUTCOME_CLASS.get(outcome, ""), e(
        word(OUTCOMES, outcome)))
    cards = [(_("from"), ", ".join(v(x) for x in doc["from"]) or "-"), (_("to"), v(doc["target"])),
             (_("path"), " → ".join(v(x) for x in doc["path"]) or "-"), (_("mode"), doc.get("upgrade_mode") or "-"),
             (_("started"), doc["started"] or "-"), (_("ended"), doc["ended"] or "-"),
             (_("duration"), duration(doc["duration_s"])), (_("nodes"), str(len(doc["nodes"])))]
    out = ["<header><h1>%s</h1>" % e(_("{product} upgrade run report").format(product=doc["product"])),
           '<div class="sub">%s %s &nbsp; %s</div></header>' % (e(_("run")), e(doc["run_id"]), badge),
           '<section id="summary"><div class="cards">']
    out += ['<div class="card"><b>%s</b><span>%s</span></div>' % (e(k), e(val)) for k, val in cards]
    out.append("</div>")
    if doc["status"] == "rolling_back":
        out.append('<p class="r-failed">%s</p>' % e(_("finish the rollback with 'bin/upgrade.sh resume'")))
    elif doc["status"] in ("running", "failed"):  # not finished (interrupted, or failed for retry)
        out.append('<p class="r-failed">%s</p>' % e(_("continue it with 'bin/upgrade.sh resume' or "
                                                      "'bin/upgrade.sh retry'")))
    if doc.get("fallback_reason"):
        out.append("<p>%s</p>" % e(_("fallback: {reason}").format(reason=doc["fallback_reason"])))
    for f in doc["failures"]:
        out.append('<p class="r-failed">%s</p>' % e(_("failed: {step} on {node}: {reason}").format(**f)))
    out.append("</section>")
    return "".join(out)


def nodes(doc):
    rows = [[n["name"], v(n["before"]), v(n["after"]), cell(_(NODE_RESULTS[n["result"]]), "r-" + n["result"]),
             Raw('<td class="num">%d</td>' % n["steps"]), Raw('<td class="num">%d</td>' % n["attempts"])]
            for n in doc["nodes"]]
    return '<section id="nodes"><h2>%s</h2>%s</section>' % (e(_("Nodes")), table(
        [_("node"), _("version before"), _("version after"), _("result"), _("steps"), _("attempts")], rows))


def plan(doc):
    rows = [[p["hop"], "%s → %s" % (v(p["from"]), v(p["to"])),
             (p["strategy"] or "-") + (" (%s)" % p["strategy_name"] if p["strategy_name"] else ""),
             p["backup_id"] or "-", ", ".join(p["nodes"])] for p in doc["plan"]]
    return '<section id="plan"><h2>%s</h2>%s</section>' % (e(_("Plan and strategy")), table(
        [_("hop"), _("versions"), _("strategy"), _("backup before the hop"), _("nodes")], rows))


def timeline(doc):
    """The Gantt chart: a row per hop, step and node; a bar per attempt, coloured by its result."""
    from drupgrade.estimates import parse_time
    rows = doc["steps"]
    legend = '<p class="legend">%s</p>' % "".join(
        '<span><i style="background:%s"></i>%s</span>' % (COLOURS[k], e(_(RESULTS[k]))) for k in RESULTS)
    if not rows:
        return '<section id="timeline"><h2>%s</h2>%s</section>' % (e(_("Timeline")), none(_("no step ran")))
    times = [parse_time(a["start"]) for r in rows for a in r["attempts"]] + [parse_time(doc["started"])]
    ends = [parse_time(a["end"]) for r in rows for a in r["attempts"]] + [parse_time(doc["ended"])]
    t0 = min(t for t in times if t is not None)
    t1 = max([t for t in ends + times if t is not None] + [t0 + 1])
    if any(a["result"] == "running" for r in rows for a in r["attempts"]):
        t1 = max(t1, parse_time(doc["generated"]) or t1)
    span = max(t1 - t0, 1.0)
    scale = CHART_W / span

    def x(t):
        return LABEL_W + (t - t0) * scale

    svg, y, hop = [], AXIS_H, None
    plan_by_hop = {p["hop"]: p for p in doc["plan"]}
    stripe = 0
    for r in rows:
        if r["hop"] != hop:
            hop = r["hop"]
            p = plan_by_hop.get(hop)
            text = _("{hop}: {src} → {dst}").format(hop=hop, src=v(p["from"]), dst=v(p["to"])) if p else \
                _("once per run: init, tool, precheck")
            svg.append('<line class="hop" x1="0" x2="%d" y1="%d" y2="%d" stroke="#1f4e79" stroke-width="1.5"/>'
                       % (LABEL_W + CHART_W, y + 1, y + 1))
            svg.append('<text x="4" y="%d" font-size="12" font-weight="bold" fill="#1f4e79">%s</text>' % (
                y + ROW_H - 2, e(text)))
            y += ROW_H + 2
        stripe += 1
        if stripe % 2:
            svg.append('<rect x="0" y="%d" width="%d" height="%d" fill="#f4f6f8"/>' % (y, LABEL_W + CHART_W, ROW_H))
        svg.append('<text class="row" x="4" y="%d" font-size="11" fill="#1f2933">%s</text>' % (
            y + ROW_H - 4, e("%s · %s" % (r["step"], r["node"]))))
        for i, a in enumerate(r["attempts"]):
            start = parse_time(a["start"]) or t0
            end = parse_time(a["end"])
            if end is None:  # running: until now; lost: until its next attempt (or the run's end)
                later = r["attempts"][i + 1]["start"] if i + 1 < len(r["attempts"]) else None
                end = parse_time(later) or t1
            width = max((end - start) * scale, 3.0)
            tip = _("{step} on {node}, attempt {n}: {result}, {secs}").format(
                step=r["step"], node=r["node"], n=a["attempt"], result=_(RESULTS[a["result"]]),
                secs=duration(a["seconds"]))
            svg.append('<rect class="bar %s" x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s">'
                       '<title>%s</title></rect>' % (a["result"], x(start), y + 2, width, ROW_H - 4,
                                                     COLOURS[a["result"]], e(tip)))
        y += ROW_H
    axis = []
    step = next((s for s in TICKS if span / s <= 10), TICKS[-1])
    k = 0
    while k * step <= span:
        xx = x(t0 + k * step)
        axis.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#d9e2ec"/>' % (xx, xx, AXIS_H - 6, y))
        axis.append('<text x="%.1f" y="%d" font-size="11" fill="#52606d" text-anchor="middle">%s</text>' % (
            xx, AXIS_H - 10, e(duration(k * step))))
        k += 1
    height = y + 4
    chart = ('<svg class="gantt" role="img" aria-label="%s" width="%d" height="%d" viewBox="0 0 %d %d">%s%s</svg>'
             % (e(_("Timeline")), LABEL_W + CHART_W, height, LABEL_W + CHART_W, height,
                "".join(axis), "".join(svg)))
    intro = _("every step on every node, a bar per attempt; time since the run began ({start})").format(
        start=doc["started"] or "-")
    return '<section id="timeline"><h2>%s</h2><p class="sub">%s</p>%s%s</section>' % (
        e(_("Timeline")), e(intro), legend, chart)


def problems(doc):
    out = ['<section id="problems"><h2>%s</h2>' % e(_("Retries, timeouts and warnings"))]
    out.append("<h3>%s</h3>" % e(_("Retries and failed attempts")))
    if doc["retries"]:
        for r in doc["retries"]:
            results = ", ".join(_(RESULTS[x]) for x in r["results"])
            out.append("<p><b>%s</b> %s</p>" % (e("%s · %s · %s" % (r["hop"], r["step"], r["node"])), e(
                _("{n} attempt(s): {results}; now {status}").format(n=r["attempts"], results=results,
                                                                    status=r["status"]))))
            if r["reason"]:
                out.append("<p>%s</p>" % e(_("reason: {reason}").format(reason=r["reason"])))
            if r["log_tail"]:
                out.append("<p class=\"sub\">%s</p><pre>%s</pre>" % (
                    e(_("the end of its log ({path})").format(path=r["log"])), e(r["log_tail"])))
    else:
        out.append(none(_("every step succeeded at its first attempt")))
    for r in doc["restarts"]:
        out.append("<p>%s</p>" % e(_("{hop}: the phase restarted at {step} ({time})").format(**r)))
    out.append("<h3>%s</h3>" % e(_("Timeouts")))
    if doc["timeouts"]:
        for t in doc["timeouts"]:
            out.append("<p><b>%s</b> %s</p>" % (e("%s · %s · %s" % (t["hop"], t["step"], t["node"])), e(
                _("attempt {n} timed out after {secs} (timeout {timeout} s)").format(
                    n=t["attempt"], secs=duration(t["seconds"]), timeout=t["timeout"]))))
            if t["context_text"]:
                out.append("<p class=\"sub\">%s</p><pre>%s</pre>" % (
                    e(_("its context ({path})").format(path=t["context"])), e(t["context_text"])))
    else:
        out.append(none(_("no step timed out")))
    out.append("<h3>%s</h3>" % e(_("Warnings")))
    if doc["warnings"]:
        out.append(table([_("time"), _("warning")], [[w["time"], w["text"]] for w in doc["warnings"]]))
    else:
        out.append(none(_("no warning")))
    out.append("</section>")
    return "".join(out)


def precheck(doc):
    out = ['<section id="precheck"><h2>%s</h2>' % e(_("Precheck"))]
    p = doc["precheck"]
    if not p:
        out.append(none(_("the precheck report of this run is not kept (a later precheck replaced it)")))
        return "".join(out) + "</section>"
    rep = p["report"]
    s = rep.get("summary", {})
    out.append("<p>%s</p>" % e(_("{passed} passed, {warn} warnings, {fail} failed, {ask} questions ({file})").format(
        passed=s.get("pass", 0), warn=s.get("warn", 0), fail=s.get("fail", 0), ask=s.get("ask", 0), file=p["file"])))
    shown = [f for f in rep["findings"] if f.get("severity") != "pass" or f.get("inhibitor")]
    if shown:
        out.append(table([_("check"), _("node"), _("severity"), _("finding")], [
            [f.get("check"), f.get("node"), f.get("severity"), text_of(f.get("message"))] for f in shown]))
    else:
        out.append(none(_("every check passed on every node")))
    out.append("<h3>%s</h3>" % e(_("Questions and the answers given")))
    if rep["questions"]:
        rows = []
        for q in rep["questions"]:
            answer = q.get("answer")
            text = _("yes") if answer is True else _("no") if answer is False else _("no answer")
            rows.append([q.get("id"), text_of(q.get("question")), text,
                         q.get("answered_by") or "-"])
        out.append(table([_("question"), _("text"), _("answer"), _("answered by")], rows))
    else:
        out.append(none(_("no question was asked")))
    return "".join(out) + "</section>"


def backups(doc):
    rows = [[b["backup_id"], b["hop"], "%s → %s" % (v(b["from"]), v(b["to"])), b["timestamp"] or "-",
             ", ".join(b["nodes"]) or "-", _(BACKUP_STATUSES[b["status"]]) + (
                 " (%s)" % b["problem"] if b["problem"] and b["status"] == "ready" else "")] for b in doc["backups"]]
    body = table([_("backup"), _("hop"), _("versions"), _("taken"), _("nodes"), _("status")], rows) if rows else \
        none(_("no backup was taken (the run stopped before its backup phase)"))
    return '<section id="backups"><h2>%s</h2>%s</section>' % (e(_("Backups")), body)


def rollbacks(doc):
    out = ['<section id="rollbacks"><h2>%s</h2>' % e(_("Rollbacks"))]
    if not doc["rollbacks"]:
        out.append(none(_("this run was not rolled back")))
    for r in doc["rollbacks"]:
        out.append("<h3>%s</h3>" % e(_("rollback {id} to backup {backup}: {status}").format(
            id=r["rollback_id"], backup=r["backup_used"], status=word(OUTCOMES, r["status"]))))
        out.append("<p>%s</p>" % e(_("{type} ({trigger}), {src} → {dst}, started {time}, took {duration}").format(
            type=r.get("rollback_type") or "-", trigger=r.get("trigger") or "-", src=r.get("from_version") or "-",
            dst=r.get("to_version") or "-", time=r.get("timestamp") or "-", duration=r.get("duration") or "-")))
        rows = [[str(s["step"]), s["label"], s["name"], cell(word(SESSION_STEPS, s["status"]), "r-" + {
            "done": "ok"}.get(s["status"], s["status"])), duration(s["seconds"]),
                 "; ".join("%s: %s" % (f.get("node"), f.get("reason")) for f in s["failures"]) or "-"]
                for s in r["steps"]]
        if rows:
            out.append(table([_("step"), _("label"), _("name"), _("status"), _("took"), _("failures")], rows))
    return "".join(out) + "</section>"
