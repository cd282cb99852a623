"""upgrade.sh strategies [--check]: each strategy of the product with its version ranges and
phases; --check validates every product, template and strategy (schemas/) and resolves every hop
of every product's compatibility matrix to exactly one strategy (exit 2 at the first problem,
naming the file and the place, before anything touches a node)."""
import json

from drupgrade import product, strategies
from drupgrade.i18n import N_, _

SUMMARY = N_("the upgrade strategies: version ranges and phases; --check validates every product's data")


def add_arguments(parser):
    parser.add_argument("--check", action="store_true",
                        help=_("validate every product, template and strategy and resolve every hop of every "
                               "compatibility matrix"))


def run(ctx):
    all_steps = strategies.engine_steps(ctx.root)
    if ctx.args.check:
        hops = strategies.check(all_steps)
        if ctx.json:
            print(json.dumps({"ok": True, "hops": [{"product": p, "from": "v" + s, "to": "v" + d, "strategy_id": sid}
                                                   for p, s, d, sid in hops]}, ensure_ascii=False, indent=2))
            return 0
        for p, s, d, sid in hops:
            print("%-10s v%-8s -> v%-8s %s" % (p, s, d, sid))
        print(_("every product, template and strategy is valid; {n} hops resolved").format(n=len(hops)))
        return 0
    cat = strategies.Catalog(product.load(ctx.product_name), all_steps)
    rows = [s.summary() for s in cat.strategies]
    if ctx.json:
        print(json.dumps({"product": cat.product.name, "strategies": rows}, ensure_ascii=False, indent=2))
        return 0
    for s, r in zip(cat.strategies, rows):
        print("%s  %s" % (r["strategy_id"], s.name))
        print("    " + _("source {lo} .. {hi}, target {tlo} .. {thi}").format(
            lo=r["source_range"][0], hi=r["source_range"][1], tlo=r["target_range"][0], thi=r["target_range"][1]))
        print("    " + _("phases: {phases}").format(phases=", ".join(r["phases"])))
    return 0
