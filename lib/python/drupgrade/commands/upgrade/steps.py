"""upgrade.sh steps: every step with its phase, timeout, retry policy, barrier and summary."""
import json
import os

from drupgrade import retry_policy
from drupgrade import steps as steps_mod
from drupgrade.i18n import N_, _

SUMMARY = N_("every step: phase, timeout, retry policy, summary")


def add_arguments(parser):
    pass


def run(ctx):
    from drupgrade.nodeops import LOCAL_STEPS
    policies = retry_policy.load(os.path.join(ctx.root, "conf", "retry_policy.json"))
    found = steps_mod.discover(os.path.join(ctx.root, "scripts", "steps"), policies)
    order = {p: i for i, p in enumerate(steps_mod.PHASES)}
    all_steps = sorted(found + LOCAL_STEPS, key=lambda s: (order[s.phase], s.order))
    overrides = {}
    if ctx.args.config or os.path.exists(ctx.config_path):
        overrides = ctx.config.timeouts
    if ctx.json:
        rows = [dict(s.as_dict(), timeout=overrides.get(s.name, s.timeout)) for s in all_steps]
        print(json.dumps({"steps": rows, "policies": {n: p.data for n, p in policies.items()}}, ensure_ascii=False,
                         indent=2))
        return 0
    print("%-20s %-18s %8s  %-11s %-8s %s" % (_("phase"), _("step"), _("timeout"), _("retry"), _("barrier"),
                                              _("summary")))
    for s in all_steps:
        where = _("controller") if s.local else _("node")
        print("%-20s %-18s %7ss  %-11s %-8s %s (%s)" % (s.phase, s.name, overrides.get(s.name, s.timeout), s.retry,
                                                        s.barrier, s.summary, where))
    return 0
