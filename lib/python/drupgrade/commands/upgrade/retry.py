"""upgrade.sh retry: apply the failed step's retry policy (design §4.2.2), then continue."""
from drupgrade import runner, state
from drupgrade.errors import EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

SUMMARY = N_("retry the failed step by its policy (§4.2.2)")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    parser.add_argument("--step", metavar="NAME", help=_("the failed step to retry (default: every failed step)"))


def run(ctx):
    r = runner.Runner(ctx)
    with state.RunLock(r.state_dir).acquire("upgrade.sh retry"), r:
        journal = r.current_journal()
        if journal is not None and journal.data.get("status") == "running":
            # Interrupted, not failed (Ctrl-C, a lost link, a killed controller): a step may still
            # run on a node, so nothing is cleaned up or started again; the runs are re-attached.
            runner.out("info", _("run {run} was interrupted, not failed: continuing it like "
                                 "'bin/upgrade.sh resume' (re-attaching to the steps still running)").format(
                run=journal.data["run_id"]))
            r.claim_nodes(journal.data["run_id"], "upgrade.sh", "retry")
            return r.execute(journal)
        if journal is None or journal.data.get("status") != "failed":
            raise DrupgradeError(_("there is no failed run to retry"), code=EXIT_FAILED,
                                 hint=_("'bin/upgrade.sh status' shows the last run"))
        results = journal.data.get("results", {})
        failed = [k for k, v in results.items() if v.get("status") == "failed"
                  and (not ctx.args.step or k.split("/")[1] == ctx.args.step)]
        if not failed:
            raise DrupgradeError(_("step {step} has not failed in run {run}").format(
                step=ctx.args.step, run=journal.data["run_id"]), code=EXIT_USAGE)
        r.verify_packages([tuple(h) for h in journal.data["hops"]], journal)  # before any cleanup on a node
        by_name = {s.name: s for s in r.steps()}
        policies = r.policies()
        nodes = {n.name: n for n in r.cfg.nodes}
        from drupgrade.engine import ControllerNode
        nodes["controller"] = ControllerNode()
        r.claim_nodes(journal.data["run_id"], "upgrade.sh", "retry")
        up = r.upgrade(journal)
        for key in failed:
            hop, name, node = key.split("/")
            step = by_name[name]
            policy = policies[step.retry]
            runner.out("info", _("retrying {step} on {node}: {summary}").format(
                step=name, node=node, summary=policy["summary"] if ctx.lang == "en" else policy["summary_zh"]))
            if policy["scope"] == "run":
                journal.set(status="restarted")
                raise DrupgradeError(_("this step's policy is to start the upgrade over"), code=EXIT_FAILED,
                                     hint=_("run: bin/upgrade.sh run --to {target}").format(
                                         target=journal.data["target"]))
            ops_journal_reset(r, up, step, hop, nodes[node], policy, by_name)
        journal.set(status="running")
        return r.execute(journal, up=up)


def ops_journal_reset(r, up, step, hop, node, policy, by_name):
    """Prepare the journal (and the node) so that the engine redoes the step by its policy: the
    earlier attempts confirmed ended on the node (settle), then the policy's cleanup."""
    journal = up.journal
    results = journal.data["results"]
    if policy["scope"] == "step":
        up.settle(hop, node, [step])
        up.ops.cleanup(node, step)
        results[hop + "/" + step.name + "/" + node.name]["status"] = "retry"
    elif policy["scope"] == "restart_at":
        first = by_name[policy["restart_at"]]
        phase = [s for s in r.steps() if s.phase == step.phase]
        names = [s.name for s in phase]
        later = phase[names.index(first.name):]
        for n in r.cfg.nodes:
            if first.runs_on(n):
                up.settle(hop, n, [s for s in later if s.runs_on(n)])
                up.ops.cleanup(n, first)
        for s in names[names.index(first.name):]:
            for k in [k for k in results if k.startswith(hop + "/" + s + "/")]:
                results[k]["status"] = "retry"
    else:  # phase: the whole phase again
        for k in results:
            if k.startswith(hop + "/") and by_name[k.split("/")[1]].phase == step.phase:
                results[k]["status"] = "retry"
    journal.save()
