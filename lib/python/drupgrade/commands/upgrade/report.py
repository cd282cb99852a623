"""upgrade.sh report [RUN] [--html FILE]: the run report (HTML and JSON, drupgrade.report) of a run
(default: the latest), written beside its journal; --json prints the document, --html FILE writes
the page to FILE as well."""
import json
import os

from drupgrade import report, runner
from drupgrade.i18n import N_, _
from drupgrade.report_html import NODE_RESULTS, OUTCOMES, render, word

SUMMARY = N_("the run report (HTML + JSON), written after every run")


def add_arguments(parser):
    parser.add_argument("run", nargs="?", metavar="RUN", help=_("the run id (default: the latest run)"))
    parser.add_argument("--html", metavar="FILE", help=_("write the HTML page to FILE too"))


def run(ctx):
    r = runner.Runner(ctx)
    journal = report.find_run(r.state_dir, ctx.args.run)
    json_path, html_path, doc = report.write(r, journal)
    if ctx.args.html:
        with open(ctx.args.html, "w", encoding="utf-8") as f:
            f.write(render(doc))
    if ctx.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(_("run {run}: {outcome}, {path} ({mode}), started {start}, ended {end}").format(
        run=doc["run_id"], outcome=word(OUTCOMES, doc["outcome"]), path=" -> ".join(doc["path"]) or "-",
        mode=doc.get("upgrade_mode") or "-", start=doc["started"] or "-", end=doc["ended"] or "-"))
    for n in doc["nodes"]:
        print("  %-10s %s -> %s  %s" % (n["name"], n["before"], n["after"], word(NODE_RESULTS, n["result"])))
    print(_("{steps} step results, {attempts} attempts, {retries} retried, {timeouts} timeouts, {warnings} warnings, "
            "{rollbacks} rollbacks").format(
        steps=len(doc["steps"]), attempts=sum(len(s["attempts"]) for s in doc["steps"]),
        retries=len(doc["retries"]), timeouts=len(doc["timeouts"]), warnings=len(doc["warnings"]),
        rollbacks=len(doc["rollbacks"])))
    print(_("report: {path}").format(path=html_path))
    print(_("JSON: {path}").format(path=json_path))
    if ctx.args.html:
        print(_("report: {path}").format(path=os.path.abspath(ctx.args.html)))
    return 0
