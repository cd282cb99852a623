"""rollback_tool manual BACKUP_ID: start a manual (step-by-step) rollback session (§4.4.2.2)."""
from drupgrade import answers, rollback
from drupgrade.i18n import N_, _

SUMMARY = N_("start a manual rollback session (then its steps one by one: step1, step2, …)")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    parser.add_argument("backup", metavar="BACKUP_ID", help=_("a backup id from 'list' (or latest)"))


def run(ctx):
    with rollback.Rollback(ctx) as rb, rb.lock("manual " + ctx.args.backup):
        journal = rb.unfinished()
        if journal is not None:  # §4.4.3.2: the manual mode asks
            d = journal.data
            n = rb.next_step(journal) or rollback.numbers()[-1]
            answer = rb.ask(answers.ROLLBACK_UNFINISHED, _(
                "rollback {id} to backup {backup} is not finished (next: step {n}); continue it or "
                "abandon it?").format(id=d["run_id"], backup=d["backup_id"], n=n),
                answers.CHOICES[answers.ROLLBACK_UNFINISHED], "continue")
            if answer == "continue":
                rb.claim_nodes(journal, "manual " + ctx.args.backup)
                rb.refresh_nodes(journal)
                rb.reverify(journal, rollback.numbers(n))
                journal.set(mode="manual")
                rollback.out("info", _("continuing rollback {id}: run 'bin/rollback_tool step{n}' ({label}) "
                                       "or 'bin/rollback_tool auto_continue_from {n}'").format(
                    id=d["run_id"], n=n, label=rollback.label(n)))
                return 0
            rb.finish(journal, "abandoned")
            rollback.out("warning", _("rollback {id} abandoned; the nodes are as it left them").format(
                id=d["run_id"]))
        rb.claim_nodes(None, "manual " + ctx.args.backup)
        backup_id = rb.resolve(ctx.args.backup)
        rb.start(backup_id, "manual")
        journal = rb.new_session(backup_id, "manual")
        rb.write_env(journal)
        rollback.out("info", _("manual rollback {id} to backup {backup} started").format(
            id=journal.data["run_id"], backup=backup_id))
        for n in rollback.numbers():
            rollback.out("info", "  bin/rollback_tool step%d  %s" % (n, rollback.label(n)))
        rollback.out("info", _("or finish automatically from a step: bin/rollback_tool auto_continue_from N"))
        return 0
