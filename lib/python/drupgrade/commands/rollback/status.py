"""rollback_tool status: the session's current step and state."""
import json

from drupgrade import rollback
from drupgrade.i18n import N_, _

SUMMARY = N_("the rollback session's current step and state")


def add_arguments(parser):
    pass


def run(ctx):
    with rollback.Rollback(ctx) as rb:
        journal = rb.current()
        info = rb.session_info(journal) if journal is not None else None
    if ctx.json:
        print(json.dumps({"rollback_session": info}, ensure_ascii=False, indent=2))
        return 0
    if info is None:
        print(_("no rollback session yet"))
        return 0
    print(_("rollback {id} ({mode}) to backup {backup}, version {version}: {status}").format(
        id=info["rollback_id"], mode=info["mode"], backup=info["backup_id"], version=info["to_version"],
        status=info["status"]))
    print(_("started {start}, ended {end}").format(start=info["started"], end=info["ended"] or "-"))
    for s in info["steps"]:
        line = "  %s step%d %s" % (rollback.MARKS[s["status"]], s["step"], s["label"])
        if s.get("elapsed") is not None:
            line += " (%ss)" % s["elapsed"]
        print(line)
        for f in s.get("failures") or []:
            print("      %s: %s" % (f["node"], f["reason"]))
    if info["next_step"] and info["status"] != "abandoned" and info["online"]:
        print(_("next: bin/rollback_tool auto latest (the session goes on node by node, wave by wave)"))
    elif info["next_step"] and info["status"] != "abandoned":
        print(_("next: bin/rollback_tool step{n}, or bin/rollback_tool auto_continue_from {n}").format(
            n=info["next_step"]))
    return 0
