"""upgrade.sh resume: continue the interrupted run from its journal."""
from drupgrade import rollback, runner, state
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.journal import DONE, FAILED, ROLLING_BACK

SUMMARY = N_("continue the interrupted run from its journal")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    pass


def run(ctx):
    r = runner.Runner(ctx)
    with state.RunLock(r.state_dir).acquire("upgrade.sh resume"), r:
        journal = r.current_journal()
        if journal is None or journal.status == DONE:
            runner.out("info", _("there is no unfinished run to resume"))
            return 0
        if journal.status == FAILED:
            raise DrupgradeError(_("run {run} failed at {phase}; resume continues an interrupted run").format(
                run=journal.data["run_id"], phase=journal.data.get("failed_phase")), code=EXIT_FAILED,
                hint=_("apply the retry policy with 'bin/upgrade.sh retry'"))
        if journal.status == ROLLING_BACK:  # interrupted during its automatic rollback: that is finished
            runner.out("info", _("run {run} failed and its automatic rollback to backup {backup} was interrupted: "
                                 "finishing the rollback").format(
                run=journal.data["run_id"], backup=journal.data["auto_rollback"]["backup_id"]))
            r.claim_nodes(journal.data["run_id"], "upgrade.sh", "resume")
            return rollback.after_upgrade(ctx, r, journal, EXIT_FAILED)
        runner.out("info", _("resuming run {run} to {target}").format(
            run=journal.data["run_id"], target=journal.data["target"]))
        r.verify_packages([tuple(h) for h in journal.data["hops"]], journal)
        r.claim_nodes(journal.data["run_id"], "upgrade.sh", "resume")
        return rollback.after_upgrade(ctx, r, journal, r.execute(journal))
