"""rollback_tool auto BACKUP_ID|latest: one-click rollback (design §4.4.2.1)."""
from drupgrade import log, rollback
from drupgrade.errors import EXIT_INTERRUPTED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

SUMMARY = N_("one-click rollback to a backup (or latest); 5-second countdown unless --yes")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    parser.add_argument("backup", metavar="BACKUP_ID|latest",
                        help=_("a backup id from 'list', or latest (the state before the last upgrade run)"))


def run(ctx):
    with rollback.Rollback(ctx) as rb, rb.lock("auto " + ctx.args.backup):
        journal = rb.unfinished()
        with log.timed(rollback.LOG, "node lock claimed"):
            rb.claim_nodes(journal, "auto " + ctx.args.backup)
        if journal is not None:  # §4.4.3.2: the one-click mode continues the unfinished rollback
            backup_id = journal.data["backup_id"]
            if ctx.args.backup not in ("latest", backup_id):
                raise DrupgradeError(
                    _("rollback {id} to backup {backup} is not finished").format(
                        id=journal.data["run_id"], backup=backup_id), code=EXIT_USAGE,
                    hint=_("finish it with 'bin/rollback_tool auto latest', or abandon it with "
                           "'bin/rollback_tool manual {backup}'").format(backup=ctx.args.backup))
            return rb.continue_auto(journal)
        backup_id = rb.resolve(ctx.args.backup)
        b = rb.start(backup_id, "auto")
        if not ctx.yes:
            rollback.out("info", _("about to roll every node back to {version} (backup {id})").format(
                version=b["version"], id=backup_id))
            try:
                rollback.countdown(ctx.console)
            except KeyboardInterrupt:
                rollback.out("warning", _("rollback cancelled: nothing was changed"))
                return EXIT_INTERRUPTED
        with log.timed(rollback.LOG, "session and its context on every node"):
            journal = rb.new_session(backup_id, "auto")
            rb.write_env(journal)
        with log.timed(rollback.LOG, "the six steps"):
            return rb.auto(journal)
