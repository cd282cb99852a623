"""Plugins (design §4.5, SPEC G1/G2; docs/plugins.md): the directories of `[plugins] dir` (default
plugins/ in the tool tree), each with a plugin.json, checked before any node is touched; their
effective limits from their type (conf/plugin_types.json) and their manifest's `resources`; what
the nodes get (each plugin's files and plugin.env, the resolved manifest scripts/bin/drplugin reads).

The node side is scripts/bin/drplugin and scripts/lib/plugin.sh: isolation, limits, monitoring.
"""
import os

from drupgrade import config, templates
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, pick
from drupgrade.steps import ROOT

TYPES_FILE = os.path.join(ROOT, "conf", "plugin_types.json")
MANIFEST = "plugin.json"
NODE_ENV = "plugin.env"  # on the node: the resolved manifest beside the plugin's files
LIMITS = ("memory_mb", "cpu_percent", "tasks")
TYPES = ("core", "business", "third_party", "database")


def types(path=TYPES_FILE):
    """{type: {summary, summary_zh, memory_mb, cpu_percent, tasks, attempts, delay, on_failure}}."""
    return config.load_json(path, "plugin_types")["types"]


def _bad(path, field, problem, hint=None):
    return DrupgradeError(_("plugin manifest {file}: {field}: {problem}").format(
        file=path, field=field, problem=problem), code=EXIT_USAGE,
        hint=hint or _("fix the manifest (docs/plugins.md), then run 'upgrade.sh plugins --check'"))


class Plugin:
    """One checked plugin: its manifest, its type's policy, its effective limits."""

    def __init__(self, directory, data, kind):
        self.dir = directory
        self.data = data
        self.name = data["name"]
        self.type = data["type"]
        self.when, _sep, self.step = data["hook"].partition(":")
        self.hook = data["hook"]
        self.entry = data["entry"]
        self.timeout = data["timeout"]
        self.roles = list(data.get("roles", []))
        self.limits = {k: min(kind[k], data.get("resources", {}).get(k, kind[k])) for k in LIMITS}
        self.attempts = kind["attempts"]
        self.delay = kind["delay"]
        self.on_failure = kind["on_failure"]
        self.database = None  # a database plugin: how its SQL is applied (product.json plugin_database)

    @property
    def description(self):
        return pick(self.data.get("description", ""), self.data.get("description_zh", ""))

    def runs_on(self, node_roles, step_roles=None):
        """Whether the plugin runs on a node with these roles (and the step runs there)."""
        if step_roles is not None and not step_roles:
            return False
        return not self.roles or bool(set(self.roles) & set(node_roles))

    def node_env(self, hide=(), unconfined=False):
        """plugin.env: what drplugin reads on the node (DR_PLUGIN_* lines)."""
        return {"DR_PLUGIN_NAME": self.name, "DR_PLUGIN_TYPE": self.type, "DR_PLUGIN_ENTRY": self.entry,
                "DR_PLUGIN_HOOK": self.hook, "DR_PLUGIN_TIMEOUT": str(self.timeout),
                "DR_PLUGIN_ROLES": ",".join(self.roles), "DR_PLUGIN_ATTEMPTS": str(self.attempts),
                "DR_PLUGIN_DELAY": str(self.delay), "DR_PLUGIN_ON_FAILURE": self.on_failure,
                "DR_PLUGIN_MEMORY_MB": str(self.limits["memory_mb"]),
                "DR_PLUGIN_CPU_PERCENT": str(self.limits["cpu_percent"]),
                "DR_PLUGIN_TASKS": str(self.limits["tasks"]), "DR_PLUGIN_HIDE": ":".join(hide),
                "DR_PLUGIN_UNCONFINED": "yes" if unconfined else "no",
                **{"DR_PLUGIN_DB_" + k.upper(): v for k, v in sorted((self.database or {}).items())}}

    def as_dict(self):
        return {"name": self.name, "type": self.type, "hook": self.hook, "entry": self.entry,
                "timeout": self.timeout, "roles": self.roles, "limits": dict(self.limits),
                "attempts": self.attempts, "delay": self.delay, "on_failure": self.on_failure,
                "description": self.data.get("description", ""),
                "description_zh": self.data.get("description_zh", ""), "dir": self.dir}


def budget(found):
    """{step: seconds} the plugins hooked to each step may add to its timeout: every attempt's
    timeout and delay (the step's watch counts them in: docs/plugins.md)."""
    extra = {}
    for p in found:
        extra[p.step] = extra.get(p.step, 0) + p.attempts * (p.timeout + p.delay + 5)
    return extra


def hidden(cfg, prod):
    """What a third-party plugin must not see on a node: the tool's directories and state, the
    backups and packages, and the product's secret paths (product.json `secrets`)."""
    p = cfg.paths
    return [p["node_tool_dir"], os.path.dirname(p["node_run_dir"]), p["node_backup_dir"],
            p["node_package_dir"]] + prod.secret_paths()


def directory(cfg):
    """The plugins directory: [plugins] dir (relative: to the tool tree), default plugins/."""
    d = cfg.section("plugins").get("dir") or "plugins"
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


def load(plugin_dir, kinds, node_steps, prod):
    """The Plugin of one directory, or exit 2 naming the file and the field."""
    roles = prod.roles
    path = os.path.join(plugin_dir, MANIFEST)
    if not os.path.isfile(path):
        raise _bad(path, "-", _("the plugin directory has no plugin.json"))
    data = config.load_json(path, "plugin")
    name = os.path.basename(plugin_dir)
    if data["name"] != name:
        raise _bad(path, "name", _("{name!r} is not the directory's name {dir!r}").format(name=data["name"], dir=name))
    entry = os.path.realpath(os.path.join(plugin_dir, data["entry"]))
    if not entry.startswith(os.path.realpath(plugin_dir) + os.sep) or not os.path.isfile(entry):
        raise _bad(path, "entry", _("{entry} is not a file of the plugin's directory").format(entry=data["entry"]))
    if not os.access(entry, os.X_OK):
        raise _bad(path, "entry", _("{entry} is not executable (chmod +x)").format(entry=data["entry"]))
    step = data["hook"].partition(":")[2]
    if step not in node_steps:
        raise _bad(path, "hook", _("{step} is not a node step; the node steps: {steps}").format(
            step=step, steps=", ".join(node_steps)))
    unknown = sorted(set(data.get("roles", [])) - set(roles))
    if unknown:
        raise _bad(path, "roles", _("unknown roles {roles}; the product's roles: {known}").format(
            roles=", ".join(unknown), known=", ".join(sorted(roles))))
    if data["type"] == "database":
        db = prod.data.get("plugin_database")
        if not db:
            raise _bad(path, "type", _("the product {product} declares no way to apply a database plugin's SQL "
                                       "(product.json plugin_database)").format(product=prod.name))
        data.setdefault("roles", list(db["roles"]))
        if set(data["roles"]) - set(db["roles"]):
            raise _bad(path, "roles", _("a database plugin runs where the product applies SQL: {roles}").format(
                roles=", ".join(db["roles"])))
    kind = kinds[data["type"]]
    for k, v in sorted(data.get("resources", {}).items()):
        if v > kind[k]:
            raise _bad(path, "resources." + k, _("{value} is above the {type} type's limit {limit}: a plugin may "
                                                 "only lower its type's limits").format(
                value=v, type=data["type"], limit=kind[k]))
    plugin = Plugin(plugin_dir, data, kind)
    if data["type"] == "database":
        scope = {"product." + k: v for k, v in prod.parameters.items()}
        plugin.database = {k: templates.substitute(v, scope, prod.declaration, "plugin_database." + k)
                           for k, v in prod.data["plugin_database"].items() if k != "roles"}
    return plugin


def find(cfg, node_steps, prod, kinds=None):
    """Every plugin of the plugins directory, checked, by name. A missing default directory is no
    plugins; a configured one that is missing is exit 2. node_steps: the node steps' names, or a
    callable giving them (read only when there is a plugin to check)."""
    top = directory(cfg)
    if not os.path.isdir(top):
        if cfg.section("plugins").get("dir"):
            raise DrupgradeError(_("the plugins directory {dir} ([plugins] dir) does not exist").format(dir=top),
                                 code=EXIT_USAGE, hint=_("create it, or remove [plugins] dir from the configuration"))
        return []
    dirs = [os.path.join(top, n) for n in sorted(os.listdir(top))
            if os.path.isdir(os.path.join(top, n)) and not n.startswith(".")]
    if not dirs:
        return []
    kinds = kinds or types()
    names = node_steps() if callable(node_steps) else node_steps
    return [load(d, kinds, names, prod) for d in dirs]
