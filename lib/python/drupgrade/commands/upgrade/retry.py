"""upgrade.sh retry: apply the failed step's retry policy (design §4.2.2), then continue."""
from drupgrade import rollback, runner, state
from drupgrade.errors import EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.journal import FAILED, RESTARTED, ROLLING_BACK, RUNNING

SUMMARY = N_("retry the failed step by its policy (§4.2.2)")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    parser.add_argument("--step", metavar="NAME", help=_("the failed step to retry (default: every failed step)"))


def run(ctx):
    r = runner.Runner(ctx)
    with state.RunLock(r.state_dir).acquire("upgrade.sh retry"), r:
        journal = r.current_journal()
        if journal is not None and journal.status == RUNNING:
            # Interrupted, not failed (Ctrl-C, a lost link, a killed controller): a step may still
            # run on a node, so nothing is cleaned up or started again; the runs are re-attached.
            runner.out("info", _("run {run} was interrupted, not failed: continuing it like "
                                 "'bin/upgrade.sh resume' (re-attaching to the steps still running)").format(
                run=journal.data["run_id"]))
            r.claim_nodes(journal.data["run_id"], "upgrade.sh", "retry")
            return rollback.after_upgrade(ctx, r, journal, r.execute(journal))
        if journal is not None and journal.status == ROLLING_BACK:
            raise DrupgradeError(_("run {run} failed and is being rolled back to backup {backup}: there is nothing "
                                   "to retry").format(run=journal.data["run_id"],
                                                      backup=journal.data["auto_rollback"]["backup_id"]),
                                 code=EXIT_FAILED, hint=_("finish the rollback with 'bin/upgrade.sh resume'"))
        if journal is None or journal.status != FAILED:
            raise DrupgradeError(_("there is no failed run to retry"), code=EXIT_FAILED,
                                 hint=_("'bin/upgrade.sh status' shows the last run"))
        failed = journal.results(steps=[ctx.args.step] if ctx.args.step else None, status=FAILED)
        if not failed:
            raise DrupgradeError(_("step {step} has not failed in run {run}").format(
                step=ctx.args.step, run=journal.data["run_id"]), code=EXIT_USAGE)
        retry = {s.name: s.retry for s in r.steps()}
        policies = r.policies()
        if any(policies[retry[f.step]].starts_over for f in failed):  # before any node is touched
            journal.set(status=RESTARTED)
            raise DrupgradeError(_("this step's policy is to start the upgrade over"), code=EXIT_FAILED,
                                 hint=_("run: bin/upgrade.sh run --to {target}").format(
                                     target=journal.data["target"]))
        r.verify_packages([tuple(h) for h in journal.data["hops"]], journal)  # before any cleanup on a node
        r.claim_nodes(journal.data["run_id"], "upgrade.sh", "retry")
        # each failure prepared by its policy, then the run goes on
        return rollback.after_upgrade(ctx, r, journal, r.execute(journal, retry=failed))
