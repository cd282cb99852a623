"""What the rollback commands share: the session checks and the step commands (step.py)."""
from drupgrade import rollback
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _
from drupgrade.journal import DONE


def session(rb, what):
    """The current session (running, failed or done), else exit 2 with what to do."""
    journal = rb.current()
    if journal is None or journal.data.get("status") == "abandoned":
        raise DrupgradeError(_("no rollback session to {what}").format(what=what), code=EXIT_USAGE,
                             hint=_("start one with 'bin/rollback_tool manual BACKUP_ID' "
                                    "('bin/rollback_tool list' shows the backups)"))
    return journal


def needs_before(rb, journal, n):
    """Steps 1…n-1 must be done before step n; a session that rolls back node by node runs its steps
    wave by wave, never one step on every node (exit 2)."""
    if journal.data.get("online"):
        raise DrupgradeError(_("rollback {id} goes node by node, wave by wave: its steps do not run one at a time "
                               "on every node").format(id=journal.data["run_id"]), code=EXIT_USAGE,
                             hint=_("continue it with 'bin/rollback_tool auto latest'"))
    for k in range(1, n):
        if rb.step_state(journal, k) != "done":
            raise DrupgradeError(_("step {n} needs step {k} ({label}) done first").format(
                n=n, k=k, label=rollback.label(k)), code=EXIT_USAGE,
                hint=_("run 'bin/rollback_tool step{k}' (or 'bin/rollback_tool status' to see the session)").format(
                    k=k))


def run_step(ctx, n):
    """rollback_tool stepN: one step of the session, on every node it concerns."""
    with rollback.Rollback(ctx) as rb, rb.lock("step%d" % n):
        journal = session(rb, _("run a step of"))
        if journal.status == DONE:  # its steps restored the cluster already: one again would stop it
            raise DrupgradeError(
                _("rollback {id} to backup {backup} is complete; step {n} is not run again on the rolled-back "
                  "cluster").format(id=journal.data["run_id"], backup=journal.data["backup_id"], n=n), code=EXIT_USAGE,
                hint=_("to restore from the backup again, run 'bin/rollback_tool auto_continue_from {n}' (steps {n} to "
                       "{last} again) or start a new session with 'bin/rollback_tool manual {backup}'").format(
                    n=n, last=rollback.numbers()[-1], backup=journal.data["backup_id"]))
        needs_before(rb, journal, n)
        rb.claim_nodes(journal, "step%d" % n)
        rb.refresh_nodes(journal)
        rb.reverify(journal, [n])
        rb.rerun_from(journal, n)
        rb.progress = rollback.Progress(journal, rb, _("manual rollback"), ctx.console)
        with rb.progress:
            rc = rb.run_steps(journal, [n])
        if rc:
            return rc
        if n == rollback.numbers()[-1]:
            return rb.complete(journal)
        rollback.out("info", _("step {n} done; next: bin/rollback_tool step{next} ({label})").format(
            n=n, next=n + 1, label=rollback.label(n + 1)))
        return 0
