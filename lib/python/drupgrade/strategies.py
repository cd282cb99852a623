"""Upgrade strategies (design §4.8.2.2): products/<name>/strategies/*.json, each with its
strategy_id, the hops it applies to (applicable_versions: source and target ranges) and its
execution_plan: per phase of the engine, the components (or templates) that fill its steps.

For a hop the strategy whose ranges hold it wins; of several, the most specific one (its ranges
lie inside every other candidate's); none, or no single most specific one, is exit 2 naming the
hop and the candidates. The phases, their steps and the retry policies stay the engine's
(scripts/steps/, conf/retry_policy.json): a strategy binds a component and its parameters to an
engine step for the hops it applies to (docs/framework.md).
"""
import functools
import os

from drupgrade import compat, config, configmap, product, retry_policy, steps, templates, versions
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, pick

STRATEGIES = "strategies"
COMPONENTS_DIR = os.path.join(steps.ROOT, "scripts", "components")
WORK_DIR = "/var/lib/drupgrade/work"  # where the node steps unpack a package (DR_WORK_DIR)
# A rolling hop's other way back (docs/upgrade.md, Rolling upgrades): the components of rollback_tool's
# steps when the hop rolls back node by node while the product keeps serving (its database is not
# restored from the dump: the expand half of its migrations is undone). The phase `rollback` fills
# them for the rollback that stops every node.
ROLLBACK_ONLINE = "rollback_online"


def unpack_dir(prod, version):
    """Where the node steps unpack the package of `version` (${unpack_dir} in strategies and templates)."""
    return WORK_DIR + "/" + prod.package_name(version)[:-len(".tar.gz")]


class Strategy:
    def __init__(self, path, data):
        self.path = path
        self.data = data["upgrade_strategy"]
        self.id = self.data["strategy_id"]
        av = self.data["applicable_versions"]
        self.source = tuple(versions.normalize(v) for v in av["source_range"])
        self.target = tuple(versions.normalize(v) for v in av["target_range"])
        for key, (lo, hi) in (("source_range", self.source), ("target_range", self.target)):
            if versions.key(lo) > versions.key(hi):
                raise config.file_error(path, "/upgrade_strategy/applicable_versions/" + key, _(
                    "bad value [{lo}, {hi}]: expected [lowest, highest]").format(lo=lo, hi=hi))

    @property
    def name(self):
        return pick(self.data["name"], self.data.get("name_zh", ""))

    def applies(self, src, dst):
        return _inside(src, self.source) and _inside(dst, self.target)

    def within(self, other):
        """Its ranges lie inside the other's (it is at least as specific)."""
        return _sub(self.source, other.source) and _sub(self.target, other.target)

    def phases(self):
        return [p["phase"] for p in self.data["execution_plan"]]

    @property
    def rolling(self):
        """The hop rolls node by node (design §4.8.2.2: `rolling_upgrade` in a component's config of
        its upgrade phase; docs/upgrade.md, Rolling upgrades)."""
        return any(entry.get(key, {}).get("rolling_upgrade") is True
                   for p in self.data["execution_plan"] if p["phase"] == "upgrade"
                   for entry in p["components"] for key in ("config", "parameters"))

    @property
    def rolls_back_online(self):
        """Its phase rollback_online says how the hop rolls back node by node (ROLLBACK_ONLINE)."""
        return ROLLBACK_ONLINE in self.phases()

    def summary(self):
        return {"strategy_id": self.id, "name": self.data["name"], "name_zh": self.data.get("name_zh", ""),
                "file": self.path, "source_range": ["v" + v for v in self.source],
                "target_range": ["v" + v for v in self.target], "phases": self.phases()}


def _inside(v, rng):
    return versions.key(rng[0]) <= versions.key(v) <= versions.key(rng[1])


def _sub(a, b):
    return _inside(a[0], b) and _inside(a[1], b)


class Binding:
    """What fills one engine step in a hop: the component, its parameters (substituted), its own
    timeout and attempts, and where it came from (the strategy, and the template if any)."""

    def __init__(self, phase, step, component, params, timeout=None, retry_count=None, template=None):
        self.phase = phase
        self.step = step
        self.component = component
        self.params = params
        self.timeout = timeout
        self.retry_count = retry_count
        self.template = template
        self.mapping = None  # service/config: the loaded mapping file (configmap.bind)

    def env(self):
        """The DR_* lines of context.env that hand this binding to the step on the node."""
        pre = "DR_B_%s_" % self.step.upper()
        found = {pre + "COMPONENT": self.component}
        if self.timeout:
            found[pre + "TIMEOUT"] = str(self.timeout)
        if self.retry_count:
            found[pre + "RETRIES"] = str(self.retry_count)
        for k, v in self.params.items():
            found["%sP_%s" % (pre, k.upper())] = templates.text(v)
        return found

    def as_dict(self):
        return {"phase": self.phase, "step": self.step, "component": self.component, "parameters": self.params,
                "timeout": self.timeout, "retry_count": self.retry_count, "template": self.template}


class Catalog:
    """A product's strategies and the templates they use."""

    def __init__(self, prod, step_list, generic_dir=None):
        self.product = prod
        self.steps = {s.name: s for s in step_list}
        self.library = templates.Library(prod.dir, generic_dir)
        node_steps = {s.name for s in step_list if not s.local}
        for name, roles in sorted(prod.step_roles.items()):
            where = "/steps/%s" % name
            if name not in node_steps:
                raise config.file_error(prod.declaration, where, _(
                    "the engine has no node step {step} (its node steps: {known})").format(
                    step=name, known=", ".join(sorted(node_steps))))
            unknown = [r for r in roles if r not in prod.roles]
            if unknown:
                raise config.file_error(prod.declaration, where + "/roles", _(
                    "bad value {value!r}: not a role of the product {product} (its roles: {known})").format(
                    value=unknown[0], product=prod.name, known=", ".join(sorted(prod.roles))))
        self.strategies = []
        d = os.path.join(prod.dir, STRATEGIES)
        seen = {}
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if not name.endswith(".json"):
                continue
            path = os.path.join(d, name)
            s = Strategy(path, config.load_json(path, "strategy"))
            if s.id in seen:
                raise config.file_error(path, "/upgrade_strategy/strategy_id", _(
                    "strategy {id} is also defined in {other}").format(id=s.id, other=seen[s.id]))
            seen[s.id] = path
            self.strategies.append(s)

    def select(self, src, dst):
        """The strategy of the hop src -> dst: the most specific of those whose ranges hold it."""
        found = [s for s in self.strategies if s.applies(src, dst)]
        best = [s for s in found if all(s.within(o) for o in found)]
        hop = "v%s -> v%s" % (src, dst)
        if not found:
            raise DrupgradeError(_("no upgrade strategy of the product {product} applies to the hop {hop}").format(
                product=self.product.name, hop=hop), code=EXIT_USAGE,
                hint=_("add a strategy whose source and target ranges hold it to {dir} (known strategies: {known})")
                .format(dir=os.path.join(self.product.dir, STRATEGIES), known=self._describe(self.strategies)))
        if len(best) != 1:
            raise DrupgradeError(_("the hop {hop} matches several strategies and none is more specific than the "
                                   "others: {candidates}").format(hop=hop, candidates=self._describe(found)),
                                 code=EXIT_USAGE,
                                 hint=_("narrow the ranges of one of them so that exactly one is the most specific"))
        return best[0]

    @staticmethod
    def _describe(strategies):
        return "; ".join("%s (%s, source %s..%s, target %s..%s)" % (
            s.id, os.path.basename(s.path), s.source[0], s.source[1], s.target[0], s.target[1])
            for s in strategies) or "-"

    def bindings(self, strategy, src, dst, online=False):
        """{step name: Binding} of the strategy for the hop src -> dst (templates expanded, ${…}
        substituted). A template listed under a phase fills its steps of that phase; every step of
        a template the strategy uses must be filled in one of its phases. A phase or step the
        engine does not have, a step filled twice, a template step left out, a component that
        does not exist or a timeout above the step's are exit 2 naming the place. online: the
        rollback steps from the phase rollback_online (the node-by-node rollback of a rolling hop)
        instead of the phase rollback."""
        scope = {"source_version": src, "target_version": dst, "product.name": self.product.name,
                 "unpack_dir": unpack_dir(self.product, dst)}
        scope.update({"product." + k: v for k, v in self.product.parameters.items()})
        found, used = {}, {}
        path = strategy.path
        # The phases run per hop, and rollback_tool's steps: the way back to this hop's backup.
        hop_phases = [p.name for p in steps.phases() if not p.once_per_run] + [steps.ROLLBACK_PHASE, ROLLBACK_ONLINE]
        left_out = ROLLBACK_ONLINE if not online else steps.ROLLBACK_PHASE  # the other way back
        for i, phase in enumerate(strategy.data["execution_plan"]):
            where = "/upgrade_strategy/execution_plan/%d" % i
            if phase["phase"] not in hop_phases:
                raise config.file_error(path, where + "/phase", _(
                    "bad value {value!r}: expected one of the engine's phases run per hop: {known}").format(
                    value=phase["phase"], known=", ".join(hop_phases)))
            if phase["phase"] == left_out:
                continue
            name = steps.ROLLBACK_PHASE if phase["phase"] == ROLLBACK_ONLINE else phase["phase"]
            for j, entry in enumerate(phase["components"]):
                at = "%s/components/%d" % (where, j)
                for b in self._entry(entry, name, scope, path, at, used):
                    self._check(b, found, path, at)
                    if b.component == configmap.COMPONENT:  # the controller maps the file first (nodeops)
                        configmap.bind(b, self.product, scope, WORK_DIR, path, at)
                    found[b.step] = b
        for tid, (at, names) in sorted(used.items()):
            left = [n for n in names if n not in found]
            if left:
                raise config.file_error(path, at, _(
                    "template {id} also fills {steps}: list it under their phases too ({phases})").format(
                    id=tid, steps=", ".join(left), phases=", ".join(
                        sorted({self.steps[n].phase for n in left if n in self.steps}))))
        return found

    def _entry(self, entry, phase, scope, path, at, used):
        if "component" in entry:
            params = {k: templates.substitute(v, scope, path, "%s/config/%s" % (at, k))
                      for k, v in entry.get("config", {}).items()}
            return [Binding(phase, entry["step"], entry["component"], params, entry.get("timeout"),
                            entry.get("retry_count"))]
        resolved = self.library.resolve(entry["template"], where=(path, at + "/template"))
        given = {k: templates.substitute(v, scope, path, "%s/parameters/%s" % (at, k))
                 for k, v in entry.get("parameters", {}).items()}
        args = templates.arguments(resolved, given, path, at + "/parameters")
        local = dict(scope, **{k: templates.substitute(v, scope, resolved["path"], "/parameters/%s/default" % k)
                               for k, v in args.items()})
        used.setdefault(resolved["id"], (at, [s["step_name"] for s in resolved["steps"]]))
        found = []
        for k, s in enumerate(resolved["steps"]):
            engine_step = self.steps.get(s["step_name"])
            if engine_step is not None and engine_step.phase != phase:
                continue  # filled where the strategy lists the template under that step's phase
            where = "%s/execution_steps/%d" % (resolved["id"], k)
            params = {name: templates.substitute(v, local, resolved["path"], where + "/parameters/" + name)
                      for name, v in s.get("parameters", {}).items()}
            found.append(Binding(phase, s["step_name"], s["component"], params, s.get("timeout"),
                                 s.get("retry_count"), resolved["id"]))
        return found

    def _check(self, b, found, path, at):
        step = self.steps.get(b.step)
        if step is None or step.phase != b.phase or step.local:
            known = sorted(s.name for s in self.steps.values() if s.phase == b.phase and not s.local)
            raise config.file_error(path, at, _("the engine has no node step {step} in the phase {phase} (its node "
                                                "steps there: {known})").format(step=b.step, phase=b.phase,
                                                                                known=", ".join(known) or "-"))
        if b.step in found:
            raise config.file_error(path, at, _("step {step} is filled twice in this strategy").format(step=b.step))
        if not os.path.isfile(os.path.join(COMPONENTS_DIR, b.component + ".sh")):
            raise config.file_error(path, at, _("unknown component {component} (the components: "
                                                "scripts/components/<layer>/<name>.sh)").format(component=b.component))
        if b.timeout and step.timeout and b.timeout > step.timeout:
            raise config.file_error(path, at, _(
                "the timeout {timeout} s of step {step} is above the engine's {limit} s for it").format(
                timeout=b.timeout, step=b.step, limit=step.timeout))


def engine_steps(root):
    """The engine's steps (scripts/steps/, their retry policies checked): those of the upgrade run,
    which strategies fill, and rollback_tool's (a product gives the roles of both)."""
    d = os.path.join(root, "scripts", "steps")
    policies = retry_policy.load(os.path.join(root, "conf", "retry_policy.json"))
    return steps.discover(d, policies) + steps.discover(d, policies, phases=(steps.ROLLBACK_PHASE,))


@functools.lru_cache(maxsize=None)
def catalog(name, root):
    """The Catalog of the product `name`, read once."""
    return Catalog(product.load(name), engine_steps(root))


def for_hop(name, root, src, dst):
    """(strategy, {step: Binding}) of the hop src -> dst of the product `name` (its upgrade run's
    steps and rollback_tool's: Binding.phase says which)."""
    cat = catalog(name, root)
    s = cat.select(src, dst)
    return s, cat.bindings(s, src, dst)


def node_env(prod, bound, roles):
    """The DR_B_* lines of a node's context.env (scripts/lib/component.sh reads them): the bindings of
    the upgrade run's steps that run on a node with `roles` (rollback_tool's go to rollback.env)."""
    found = {}
    for b in bound.values():
        if b.phase != steps.ROLLBACK_PHASE and prod.runs_step(b.step, roles):
            found.update(b.env())
    return found


def for_rollback(name, root, src, dst, online=False):
    """(strategy, {step: Binding}) of rollback_tool's steps for a backup the hop src -> dst made:
    that hop's strategy fills them (its phase rollback, or rollback_online for the node-by-node
    rollback of a rolling hop), with ${source_version} the version the backup holds. A strategy
    that fills none of them is exit 2 (the rollback would restore nothing)."""
    return rollback_bindings(catalog(name, root), src, dst, online)


def rollback_bindings(cat, src, dst, online=False):
    """for_rollback with the product's Catalog `cat`."""
    s = cat.select(src, dst)
    found = {k: b for k, b in cat.bindings(s, src, dst, online).items() if b.phase == steps.ROLLBACK_PHASE}
    if not found:
        raise DrupgradeError(_("the strategy {id} ({file}) of the hop v{src} -> v{dst} fills no rollback step").format(
            id=s.id, file=s.path, src=src, dst=dst), code=EXIT_USAGE, hint=_(
            "list the product's backup and restore templates under the phase rollback of its execution_plan "
            "(docs/framework.md, Backup and rollback components)"))
    return s, found


def check(step_list, products_dir=None):
    """Every product, template and strategy validated, and every hop of every product's matrix
    resolved to one strategy whose bindings instantiate: [(product, src, dst, strategy_id)]."""
    resolved = []
    for name in product.names(products_dir):
        prod = product.Product(name, products_dir)
        compat.load(prod)  # its compatibility checks (compat.json) are valid too
        cat = Catalog(prod, step_list)
        for tid in cat.library.ids():
            cat.library.resolve(tid)
        m = prod.matrix()
        for src in sorted(m.rows, key=versions.key):
            for dst in m.direct(src):
                s = cat.select(src, dst)
                cat.bindings(s, src, dst)
                if s.rolls_back_online:
                    cat.bindings(s, src, dst, online=True)
                resolved.append((name, src, dst, s.id))
    return resolved
