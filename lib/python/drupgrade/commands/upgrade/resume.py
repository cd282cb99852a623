"""upgrade.sh resume: continue the interrupted run from its journal."""
from drupgrade import runner, state
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.journal import DONE, FAILED

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
        runner.out("info", _("resuming run {run} to {target}").format(
            run=journal.data["run_id"], target=journal.data["target"]))
        r.verify_packages([tuple(h) for h in journal.data["hops"]], journal)
        r.claim_nodes(journal.data["run_id"], "upgrade.sh", "resume")
        return r.execute(journal)
