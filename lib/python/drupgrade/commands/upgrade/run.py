"""upgrade.sh run: the whole upgrade, seven phases per hop, from the journal."""
from drupgrade import log, rollback, runner, state, steps, versions
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.journal import FAILED, RESTARTED, ROLLING_BACK, RUNNING, UNFINISHED

SUMMARY = N_("the whole upgrade (7 phases) to a target version")
# Why a run is not finished, in the operator's words (this command holds the run lock: nobody drives it).
UNFINISHED_WORDS = {RUNNING: N_("it was interrupted"), FAILED: N_("a step failed"),
                    ROLLING_BACK: N_("its automatic rollback was interrupted")}
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    versions.add_target_arguments(parser)
    parser.add_argument("--only-phase", choices=steps.phase_names(), metavar="PHASE", help=_("run this phase alone"))
    parser.add_argument("--from-phase", choices=steps.phase_names(), metavar="PHASE", help=_("start at this phase"))


def run(ctx):
    r = runner.Runner(ctx)
    target = versions.normalize(ctx.args.to)
    with state.RunLock(r.state_dir).acquire("upgrade.sh run --to " + target), r:
        current = r.current_journal()
        start_over = current is not None and r.starts_over(current)
        if current and not start_over and current.status in UNFINISHED:
            raise DrupgradeError(
                _("run {run} to {target} is not finished: {how}").format(
                    run=current.data["run_id"], target=current.data["target"], how=_(UNFINISHED_WORDS[current.status])),
                code=EXIT_FAILED,
                hint=_("finish the rollback with 'bin/upgrade.sh resume'") if current.status == ROLLING_BACK
                else _("continue it with 'bin/upgrade.sh resume' or 'bin/upgrade.sh retry'"))
        with log.timed(runner.LOG, "plan: the nodes' versions read, the hops chosen"):
            hops, kind, found = r.plan(target, ctx.args.mode)
        if not hops:
            runner.out("info", _("every node already runs {version}: nothing to do").format(version=target))
            return 0
        if r.compat:  # the live checks of the plan's hops (compat.py)
            r.compat.report(runner.out)
        with log.timed(runner.LOG, "packages verified"):
            verified = r.verify_packages(hops)  # exit 2 here: no journal, no node changed
        previous = state.read_json(r.current_path)
        journal = r.new_journal(target, hops, kind, found, verified)
        if r.compat:
            journal.set(compatibility_checks=r.compat.results, fallback_reason=r.compat.fallback_reason)
        try:  # journaled first: a kill -9 from here on leaves a run that resume continues
            with log.timed(runner.LOG, "node lock claimed"):
                r.claim_nodes(journal.data["run_id"], "upgrade.sh", "run --to " + target)
        except DrupgradeError:
            r.discard_journal(journal, previous)  # refused: the run never started
            raise
        if start_over:
            runner.out("info", _("run {run} failed where the policy is to start over: it is closed, a new run "
                                 "begins").format(run=current.data["run_id"]))
            current.set(status=RESTARTED)
        runner.out("info", _("run {run}: {path} ({mode})").format(
            run=journal.data["run_id"], path=" -> ".join([hops[0][0]] + [d for _s, d in hops]), mode=kind))
        with log.timed(runner.LOG, "the run's phases"):
            rc = r.execute(journal, ctx.args.only_phase, ctx.args.from_phase)
        return rollback.after_upgrade(ctx, r, journal, rc)
