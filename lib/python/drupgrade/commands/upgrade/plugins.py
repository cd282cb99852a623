"""upgrade.sh plugins [--check]: the plugins of [plugins] dir with type, hook, roles and effective
limits; --check also asks every node what it lacks to isolate each type used (scripts/lib/isolation.sh,
sent as it is: the node needs no tool yet). A bad manifest is exit 2 before any node is touched; a node
that lacks a mechanism is exit 3 (the plugin would not run there). docs/plugins.md."""
import json
import os

from drupgrade import fanout, plugins, product
from drupgrade.errors import EXIT_FAILED, EXIT_PRECHECK, DrupgradeError
from drupgrade.i18n import N_, _, pick
from drupgrade.runner import Runner

SUMMARY = N_("the plugins: type, hook, roles and effective limits; --check also asks every node what it lacks "
             "to isolate them")
ISOLATION = os.path.join("scripts", "lib", "isolation.sh")


def add_arguments(parser):
    parser.add_argument("--check", action="store_true",
                        help=_("also check on every node the isolation mechanisms the plugins' types need"))


def node_check(transport, node, types_used, root):
    """{type: [missing mechanism]} of one node, or a DrupgradeError when the node does not answer."""
    with open(os.path.join(root, ISOLATION), encoding="utf-8") as f:
        script = f.read() + '\nplugin::report "$@" || true\n'
    res = transport.run(node, ["bash", "-c", script, "drisolation"] + sorted(types_used), conn_type="status")
    if res.rc != 0:
        raise DrupgradeError(_("cannot check node {node}: {detail}").format(node=node.name, detail=res.stderr.strip()),
                             code=EXIT_FAILED)
    found = {}
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] in plugins.TYPES:
            found[parts[0]] = [] if parts[1] == "ok" else parts[1].split(",")
    return found


def run(ctx):
    runner = Runner(ctx)
    prod = product.of(ctx.config)
    node_steps = [s.name for s in runner.steps() if not s.local]
    found = plugins.find(ctx.config, node_steps, prod)
    kinds = plugins.types()
    rows = [p.as_dict() for p in found]
    checks = {}
    if ctx.args.check and found:
        used = {p.type for p in found}
        with runner:
            results = fanout.fan_out(ctx.config, lambda n: (n, node_check(runner.transport(), n, used, ctx.root)),
                                     ctx.config.nodes)
        for node, lacks in results:
            relevant = [p for p in found if p.runs_on(node.roles)]
            checks[node.name] = {p.name: lacks.get(p.type, []) for p in relevant}
    lacking = sorted((n, p, m) for n, per in checks.items() for p, m in per.items() if m)
    if ctx.json:
        print(json.dumps({"dir": plugins.directory(ctx.config), "plugins": rows, "nodes": checks,
                          "types": kinds}, ensure_ascii=False, indent=2))
    else:
        print(_("plugins in {dir}: {n}").format(dir=plugins.directory(ctx.config), n=len(found)))
        for p in found:
            print("  %-20s %-12s %-28s %s" % (p.name, p.type, p.hook, ",".join(p.roles) or _("every node")))
            print("      " + _("limits: {mb} MB, {cpu} % CPU, {tasks} tasks, timeout {timeout} s; "
                               "{attempts} attempt(s) {delay} s apart, then {then}").format(
                mb=p.limits["memory_mb"], cpu=p.limits["cpu_percent"], tasks=p.limits["tasks"],
                timeout=p.timeout, attempts=p.attempts, delay=p.delay,
                then=_("stop the upgrade") if p.on_failure == "stop" else _("skip it and go on")))
            if p.description:
                print("      " + p.description)
        for name, per in sorted(checks.items()):
            if not per:
                print(_("node {node}: no plugin runs here (roles)").format(node=name))
            elif not any(per.values()):
                print(_("node {node}: its plugins can be isolated: {names}").format(
                    node=name, names=", ".join(sorted(per))))
        for node, name, missing in lacking:
            print(_("node {node}: plugin {plugin} cannot be isolated: missing {what}").format(
                node=node, plugin=name, what=", ".join(missing)))
        if found and not ctx.args.check:
            print(_("'upgrade.sh plugins --check' also checks the nodes"))
        for kind in plugins.TYPES:
            if not any(p.type == kind for p in found):
                continue
            print("  %s: %s" % (kind, pick(kinds[kind]["summary"], kinds[kind]["summary_zh"])))
    if lacking:
        raise DrupgradeError(_("{n} plugin(s) cannot be isolated on their nodes: {list}").format(
            n=len(lacking), list="; ".join("%s@%s (%s)" % (p, n, ", ".join(m)) for n, p, m in lacking)),
            code=EXIT_PRECHECK, hint=_("install what is missing on those nodes (bubblewrap, util-linux, systemd), "
                                       "or set allow_unconfined = yes in [plugins] to let them run without it"))
    return 0
