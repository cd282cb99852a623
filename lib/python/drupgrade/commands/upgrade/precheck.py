"""upgrade.sh precheck: phase 3 alone, every check on every node, one report (design §4.2.4).

Exit 0 passed, 3 an inhibitor remains, 4 a question needs an answer (--yes, --answers FILE, or a
terminal). Nothing is changed on any node. The report is also kept in <state_dir>/precheck/.
"""
from drupgrade import precheck, runner, versions
from drupgrade.i18n import N_, _

SUMMARY = N_("phase 3 alone: every precheck on every node, one report for the cluster")


def add_arguments(parser):
    versions.add_target_arguments(parser, required=False, to_help=_(
        "target version: also check the upgrade path and the packages of every hop"))


def run(ctx):
    target = versions.normalize(ctx.args.to) if ctx.args.to else None
    options = precheck.PrecheckOptions.of(ctx)
    with runner.Runner(ctx) as r:
        env = precheck.Env(r.cfg, r.transport(), ctx.root, target=target, mode=ctx.args.mode)
        report = precheck.run(env, yes=options.yes, answers_path=options.answers_path)
    return precheck.finish(report, options, runner.out, to_json=ctx.json)
