"""rollback_tool prune [--keep N] [--dry-run]: remove old backups and runs on the nodes and the
controller, keeping the N newest complete backups (retention, docs/rollback.md "Retention")."""
import json

from drupgrade import retention, rollback
from drupgrade.errors import EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

SUMMARY = N_("remove old backups and runs, keeping the N newest complete backups ([backup] keep)")


def _count(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        import argparse
        raise argparse.ArgumentTypeError(_("a whole number of at least 1 is needed"))
    return n


def add_arguments(parser):
    parser.add_argument("--keep", type=_count, metavar="N",
                        help=_("how many of the newest complete backups to keep (default: [backup] keep)"))
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help=_("say what would be removed, remove nothing"))


def run(ctx):
    keep = ctx.args.keep or ctx.config.section("backup").get("keep", 0)
    if keep < 1:
        raise DrupgradeError(_("[backup] keep = 0 turns retention off: say how many backups to keep"),
                             code=EXIT_USAGE, hint=_("run 'bin/rollback_tool prune --keep N'"))
    with rollback.Rollback(ctx) as rb:
        # One run at a time: the controller's run lock (the nodes' own lock joins it here once the
        # nodes have one, issue 12 point 3).
        with rb.lock("prune --keep %d" % keep):
            report = retention.Pruner(rb.cfg, rb.r.transport(), rb.ops(None)).prune(keep, dry_run=ctx.args.dry_run)
    if ctx.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for level, text in retention.lines(report):
            rollback.out(level, text)
    return 0 if report["ok"] else EXIT_FAILED
