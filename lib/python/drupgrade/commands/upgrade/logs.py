"""upgrade.sh logs STEP [--node N] [--run RUN]: every hop and attempt of a step's log in one run (the
latest by default), in run order, each under a header (node, hop, attempt, result, file). The
controller keeps each attempt's log (engine.log_name); an attempt it has no copy of is read from
the node, read-only (`cat` of the node's run log, the step's part of it by its marker lines)."""
import json
import os
import re

from drupgrade import engine, runner, safetext
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.journal import FAILED, OK, RUNNING, Journal

SUMMARY = N_("a step's log: every hop and attempt of it in a run, fetched from the node when needed")
CONTROLLER = "controller"  # the node name of the controller's own steps in the journal
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def add_arguments(parser):
    parser.add_argument("step", metavar="STEP", help=_("the step ('bin/upgrade.sh steps' lists them)"))
    parser.add_argument("--node", metavar="NODE", help=_("only this node's attempts"))
    parser.add_argument("--run", metavar="RUN", help=_("the run (default: the latest; 'ls <state_dir>/runs')"))


def journal_of(r, run_id):
    """The journal of run_id, or of the latest run; exit 2 naming the runs there are."""
    known = sorted(d for d in os.listdir(r.runs_dir)
                   if os.path.isfile(os.path.join(r.runs_dir, d, "journal.json"))) if os.path.isdir(r.runs_dir) else []
    if run_id is None:
        journal = r.current_journal()
        if journal is None:
            raise DrupgradeError(_("no upgrade has run yet: there are no step logs"), code=EXIT_USAGE,
                                 hint=_("run an upgrade first: bin/upgrade.sh run --to VERSION"))
        return journal
    if not RUN_ID.match(run_id) or run_id not in known:
        raise DrupgradeError(_("unknown run {run}").format(run=run_id), code=EXIT_USAGE,
                             hint=_("the runs of this controller: {runs}").format(runs=", ".join(known) or "-"))
    return Journal.load(os.path.join(r.runs_dir, run_id, "journal.json"))


def attempts(journal, step, node=None):
    """Every attempt of the step (on node, or on every node) in run order, from the journal's
    events: [{node, hop, attempt, run, result, rc}]. A result without events (a journal from before
    them) gives its attempts in key order."""
    found, by_key = [], {}
    for e in journal.data.get("events", []):
        parts = e.get("key", "").split("/")
        if len(parts) != 3 or parts[1] != step or (node and parts[2] != node) or "attempts" not in e:
            continue
        k = (e["key"], e["attempts"])
        if e.get("status") == RUNNING and k not in by_key:
            by_key[k] = {"node": parts[2], "hop": parts[0], "attempt": e["attempts"], "run": e.get("run"),
                         "result": RUNNING, "rc": None}
            found.append(by_key[k])
        elif e.get("status") in (OK, FAILED) and k in by_key:
            by_key[k].update(result=e["status"], rc=e.get("rc"))
    seen = {a["hop"] + "/" + step + "/" + a["node"] for a in found}
    for r in journal.results(steps=[step], nodes=[node] if node else None):
        if r.key not in seen:
            for n in range(1, r.attempts + 1):
                found.append({"node": r.node, "hop": r.hop, "attempt": n, "run": r.get("run") if n == r.attempts
                              else None, "result": r.status if n == r.attempts else FAILED, "rc": None})
    for a in found:  # an attempt after which another began ended failed (its end may not be journaled)
        last = journal.result(a["hop"], step, a["node"]).attempts
        a["last"] = a["attempt"] == last
        if not a["last"] and a["result"] == RUNNING:
            a["result"] = FAILED
        elif a["last"]:
            a["result"] = journal.result(a["hop"], step, a["node"]).status or a["result"]
    return found


def section(text, step, nonce):
    """The step's part of a node run's log (`drstep chain`: a begin and an end marker line with the
    run's nonce around each step's output); the whole text when it has no such markers."""
    mark = engine.MARK.decode() + nonce
    begin, end = "%s begin %s " % (mark, step), "%s end %s " % (mark, step)
    lines, inside, found = [], False, False
    for line in text.splitlines(True):
        if line.startswith(begin):
            inside = found = True
        elif line.startswith(end):
            inside = False
        elif inside:
            lines.append(line)
    return "".join(lines) if found else text


def fetch(r, journal, attempt, step):
    """(text, None) of the attempt's part of its run's log on the node, read-only; (None, why)."""
    try:
        node = r.cfg.node(attempt["node"])
    except KeyError:
        return None, _("node {node} is no longer in the configuration").format(node=attempt["node"])
    if not attempt["run"]:
        return None, _("the controller kept no log of it and it ran on no node")
    path = "%s/%s/log" % (r.transport().settings.node_run_dir, attempt["run"])
    res = r.transport().run(node, ["cat", "--", path], conn_type="status", timeout=120, retry=False)
    if res.rc != 0:
        return None, _("not on the controller, and {node}:{path} cannot be read: {detail}").format(
            node=node.name, path=path, detail=safetext.clean(res.stderr.strip()[-300:], one_line=True) or res.rc)
    secret = journal.data.get("marker_secret")  # read-only: no nonce is made for a run that had none
    text = section(res.stdout, step, journal.nonce(attempt["run"])) if secret else res.stdout
    return text, None


def hop_text(journal, hop):
    info = (journal.data.get("hop_info") or {}).get(hop)
    if info:
        return _("{hop} ({src} -> {dst})").format(hop=hop, src=info["from"], dst=info["to"])
    return _("the run's own steps") if hop == "run" else hop


def run(ctx):
    r = runner.Runner(ctx)
    try:
        journal = journal_of(r, ctx.args.run)
        names = [s.name for s in r.steps()]
        step = ctx.args.step
        if step not in names:
            raise DrupgradeError(_("unknown step {step}").format(step=step), code=EXIT_USAGE,
                                 hint=_("'bin/upgrade.sh steps' lists the steps"))
        nodes = [n.name for n in r.cfg.nodes] + [CONTROLLER]
        if ctx.args.node and ctx.args.node not in nodes:
            raise DrupgradeError(_("unknown node {node}").format(node=ctx.args.node), code=EXIT_USAGE,
                                 hint=_("the nodes: {nodes}").format(nodes=", ".join(nodes)))
        run_id = journal.data["run_id"]
        found = attempts(journal, step, ctx.args.node)
        if not found:
            raise DrupgradeError(_("step {step} has no attempt in run {run}{where}").format(
                step=step, run=run_id, where=_(" on node {node}").format(node=ctx.args.node) if ctx.args.node else ""),
                code=EXIT_USAGE, hint=_("'bin/upgrade.sh status' shows the run's steps; --run RUN names another run"))
        log_dir = os.path.join(r.state_dir, "logs", run_id)
        for a in found:
            name = engine.log_name(step, a["hop"], ".log" if a["last"] else ".attempt%d.log" % a["attempt"])
            a["file"] = os.path.join(log_dir, a["node"], name)
            a["source"], a["error"], a["log"] = "controller", None, None
            if os.path.isfile(a["file"]):
                with open(a["file"], encoding="utf-8", errors="replace") as f:
                    a["log"] = f.read()
                continue
            a["log"], a["error"] = fetch(r, journal, a, step)
            a["source"] = "node" if a["error"] is None else None
            if a["source"] == "node":
                a["file"] = "%s:%s/%s/log" % (a["node"], r.transport().settings.node_run_dir, a["run"])
    finally:
        r.close()
    if ctx.json:
        print(json.dumps({"run_id": run_id, "step": step, "attempts": [
            {k: a[k] for k in ("node", "hop", "attempt", "result", "rc", "file", "source", "error", "log")}
            for a in found]}, ensure_ascii=False, indent=2))
        return 0
    results = {OK: _("ok"), FAILED: _("failed"), RUNNING: _("running")}
    for a in found:
        where = a["file"] if a["source"] == "controller" else _("{file} (read from the node)").format(
            file=a["file"]) if a["source"] == "node" else _("no log: {why}").format(why=a["error"])
        print("==== " + _("{step} on {node}, {hop}, attempt {attempt}: {result}; {file}").format(
            step=step, node=a["node"], hop=hop_text(journal, a["hop"]), attempt=a["attempt"],
            result=results.get(a["result"], a["result"]), file=where))
        if a["log"]:
            text = safetext.clean(a["log"])
            print(text if text.endswith("\n") else text + "\n", end="")
    return 0
