"""upgrade.sh products: the products this tool can upgrade (products/<name>/), their versions
(the compatibility matrix), roles and strategies; the configured one ([product] name) marked."""
import json
import os

from drupgrade import product, strategies
from drupgrade.i18n import N_, _

SUMMARY = N_("the products this tool upgrades, their versions, roles and strategies")


def add_arguments(parser):
    pass


def run(ctx):
    chosen = ctx.product_name
    rows = []
    for name in product.names():
        p = product.load(name)
        found = sorted(os.listdir(os.path.join(p.dir, strategies.STRATEGIES))) \
            if os.path.isdir(os.path.join(p.dir, strategies.STRATEGIES)) else []
        rows.append({"name": name, "label": p.data["label"], "label_zh": p.data["label_zh"], "dir": p.dir,
                     "configured": name == chosen, "versions": ["v" + v for v in p.matrix().versions],
                     "roles": sorted(p.roles), "version_file": p.version_file,
                     "strategies": [f[:-len(".json")] for f in found if f.endswith(".json")]})
    if ctx.json:
        print(json.dumps({"products": rows}, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        mark = "*" if r["configured"] else " "
        print("%s %-10s %s" % (mark, r["name"], product.load(r["name"]).label))
        print("    " + _("versions: {versions}").format(versions=", ".join(r["versions"])))
        print("    " + _("roles: {roles}").format(roles=", ".join(r["roles"])))
        print("    " + _("strategies: {names}").format(names=", ".join(r["strategies"]) or "-"))
    print(_("* the product the configuration names ([product] name)"))
    return 0
