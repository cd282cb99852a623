"""upgrade.sh steps [--phase NAME] [--markdown]: every step (scripts/steps/) with its phase, timeout,
retry policy, barrier and summary; --markdown writes the table of docs/upgrade.md."""
import json
import os

from drupgrade import product, retry_policy
from drupgrade import steps as steps_mod
from drupgrade.i18n import N_, _, cells, pad

SUMMARY = N_("every step: phase, timeout, retry policy, summary")
DOC_START = "<!-- generated from scripts/steps/ by: make docs (bin/upgrade.sh steps --markdown) -->"
DOC_END = "<!-- end of generated table -->"


def add_arguments(parser):
    parser.add_argument("--phase", choices=steps_mod.phase_names(), metavar="PHASE",
                        help=_("only this phase: {phases}").format(phases=", ".join(steps_mod.phase_names())))
    parser.add_argument("--markdown", action="store_true",
                        help=_("the step table of docs/upgrade.md (Markdown), from the step declarations"))


def markdown(all_steps):
    """The step table of docs/upgrade.md, from the declarations (English, like the docs)."""
    lines = [DOC_START, "| phase | step | runs on | roles | retry policy | what it does | done when |",
             "|---|---|---|---|---|---|---|"]
    for s in all_steps:
        roles = ", ".join(s.roles).replace("any", "all")
        if s.fanout != "parallel":
            roles += " (%s)" % s.fanout
        cells = (s.phase, s.name, s.runs, roles, s.retry, s.summary_en, s.done or "-")
        lines.append("| %s |" % " | ".join(c.replace("|", "\\|") for c in cells))
    return "\n".join(lines + [DOC_END]) + "\n"


def run(ctx):
    policies = retry_policy.load(os.path.join(ctx.root, "conf", "retry_policy.json"))
    all_steps = steps_mod.discover(os.path.join(ctx.root, "scripts", "steps"), policies,
                                   roles=product.load(ctx.product_name).step_roles)
    phases = [p for p in steps_mod.phases() if p.name == (ctx.args.phase or p.name)]
    all_steps = [s for s in all_steps if s.phase in {p.name for p in phases}]
    if ctx.args.markdown:
        print(markdown(all_steps), end="")
        return 0
    overrides = {}
    if ctx.args.config or os.path.exists(ctx.config_path):
        overrides = ctx.config.timeouts
    if ctx.json:
        rows = [dict(s.as_dict(), timeout=overrides.get(s.name, s.timeout)) for s in all_steps]
        print(json.dumps({"phases": [p.as_dict() for p in phases], "steps": rows,
                          "policies": {n: p.data for n, p in policies.items()}}, ensure_ascii=False, indent=2))
        return 0
    widths = (20, 18, 8, 11, 8)  # terminal columns: the zh headers take two per character
    rows = [(_("phase"), _("step"), _("timeout"), _("retry"), _("barrier"), _("summary"))]
    rows += [(s.phase, s.name, "%ss" % overrides.get(s.name, s.timeout), s.retry, s.barrier,
              "%s (%s)" % (s.summary, _("controller") if s.local else _("node"))) for s in all_steps]
    for r in rows:
        timeout = " " * max(0, widths[2] - cells(r[2])) + r[2]  # right-aligned
        print(" ".join([pad(r[0], widths[0]), pad(r[1], widths[1]), timeout + " ", pad(r[3], widths[3]),
                        pad(r[4], widths[4]), r[5]]))
    return 0
