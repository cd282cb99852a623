"""Upgrade templates (design §4.8.1): JSON files of typed parameters and the engine steps they bind
to components, composed by `extends` (a template inherits its parent's parameters and steps and
overrides or removes them by name), instantiated with `${param}` substitution.

Where they are: templates/*.json (generic: they name no product) and products/<name>/templates/
(the product's own, which may extend the generic ones). Every file is checked against
schemas/template.json; a problem is exit 2 naming the file, the JSON path and what was expected.
"""
import copy
import os
import re

from drupgrade import config
from drupgrade.i18n import _
from drupgrade.steps import ROOT

TEMPLATES_DIR = os.path.join(ROOT, "templates")
TYPES = ("database_upgrade", "service_upgrade", "config_migration", "dependency_update", "validation")
_REF = re.compile(r"\$\{([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?)\}")
_PY_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


_error = config.file_error


class Template:
    """One template file, as written (raw) and resolved (its extends chain applied)."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.id = data["template_id"]
        self.parent = data.get("extends")
        self.type = data.get("template_type")
        self.parameters = data.get("parameters", {})
        self.steps = data.get("execution_steps", [])


def read_dir(directory):
    """{template_id: Template} of the *.json files of a directory (none: {})."""
    found = {}
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith(".json"):
            path = os.path.join(directory, name)
            t = Template(path, config.load_json(path, "template"))
            if t.id in found:
                raise _error(path, "/template_id", _("template {id} is also defined in {other}").format(
                    id=t.id, other=found[t.id].path))
            found[t.id] = t
    return found


class Library:
    """The templates a product can use: the generic ones and its own (an id used twice is exit 2)."""

    def __init__(self, product_dir=None, generic_dir=None):
        self.raw = read_dir(generic_dir or TEMPLATES_DIR)
        for tid, t in read_dir(os.path.join(product_dir, "templates") if product_dir else "").items():
            if tid in self.raw:
                raise _error(t.path, "/template_id", _("template {id} is also defined in {other}").format(
                    id=tid, other=self.raw[tid].path))
            self.raw[tid] = t
        self._resolved = {}

    def ids(self):
        return sorted(self.raw)

    def resolve(self, tid, where=None):
        """The template with its extends chain applied: {id, type, path, parameters, steps}.
        A child's parameter replaces the parent's of the same name; a child's step replaces the
        parent's step of the same step_name key by key (remove: true drops it), new steps follow."""
        if tid in self._resolved:
            return self._resolved[tid]
        chain, seen = [], set()
        cur = tid
        while cur is not None:
            if cur not in self.raw:
                file, at = (chain[-1].path, "/extends") if chain else where or ("-", "/template")
                raise _error(file, at, _("unknown template {id} (known: {known})").format(
                    id=cur, known=", ".join(self.ids()) or "-"))
            if cur in seen:
                raise _error(self.raw[cur].path, "/extends", _("the templates extend each other in a cycle: {chain}")
                             .format(chain=" -> ".join([t.id for t in chain] + [cur])))
            seen.add(cur)
            chain.append(self.raw[cur])
            cur = self.raw[cur].parent
        params, steps, ttype = {}, [], None
        for t in reversed(chain):  # the root first, each child over it
            params.update(copy.deepcopy(t.parameters))
            ttype = t.type or ttype
            for i, s in enumerate(t.steps):
                at = next((k for k, old in enumerate(steps) if old["step_name"] == s["step_name"]), None)
                if s.get("remove"):
                    if at is None:
                        raise _error(t.path, "/execution_steps/%d" % i, _(
                            "step {step} is removed, but no parent template has it").format(step=s["step_name"]))
                    del steps[at]
                elif at is None:
                    steps.append(copy.deepcopy(s))
                else:
                    steps[at] = dict(steps[at], **copy.deepcopy(s))
        top = chain[0]
        if ttype not in TYPES:
            raise _error(top.path, "/template_type", _("expected one of: {values} (in this template or a "
                                                         "template it extends)").format(values=", ".join(TYPES)))
        for i, s in enumerate(steps):
            if "component" not in s:
                raise _error(top.path, "/execution_steps/%d" % i, _(
                    "step {step} names no component (in this template or one it extends)").format(step=s["step_name"]))
        for name, p in params.items():
            if "default" in p and not _typed(p["default"], p["type"]):
                raise _error(top.path, "/parameters/%s/default" % name, _(
                    "bad value {value!r}: expected a value of type {type}").format(value=p["default"], type=p["type"]))
        found = self._resolved[tid] = {"id": tid, "type": ttype, "path": top.path, "parameters": params,
                                       "steps": steps}
        return found


def _typed(value, kind):
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _PY_TYPES[kind])


def arguments(resolved, given, path, where):
    """The template's parameters from what a strategy gives: typed, required ones present, defaults
    applied, unknown ones refused (exit 2 naming file, JSON path and what was expected)."""
    params = resolved["parameters"]
    for name, value in sorted(given.items()):
        if name not in params:
            raise _error(path, "%s/%s" % (where, name), _("template {id} has no parameter {name} (its parameters: "
                                                           "{known})").format(id=resolved["id"], name=name,
                                                                              known=", ".join(sorted(params)) or "-"))
        kind = params[name]["type"]
        if not _typed(value, kind):
            raise _error(path, "%s/%s" % (where, name), _("bad value {value!r}: expected a value of type {type}")
                         .format(value=value, type=kind))
    args = {}
    for name, p in sorted(params.items()):
        if name in given:
            args[name] = given[name]
        elif "default" in p:
            args[name] = p["default"]
        elif p.get("required"):
            raise _error(path, where, _("template {id} needs the parameter {name} ({description})").format(
                id=resolved["id"], name=name, description=p.get("description", p["type"])))
    return args


def substitute(value, scope, path, where):
    """${name} replaced from scope ({name: value}, dotted names like product.link included). A
    string that is exactly one reference takes the value as it is (a list stays a list); inside a
    longer string a list is joined with spaces. An unknown reference is exit 2."""
    if isinstance(value, list):
        return [x for v in value for x in _as_list(substitute(v, scope, path, where))]
    if not isinstance(value, str):
        return value
    for name in _REF.findall(value):
        if name not in scope:
            raise _error(path, where, _("unknown reference ${{{name}}} (known here: {known})").format(
                name=name, known=", ".join(sorted(scope))))
    whole = _REF.fullmatch(value)
    if whole:
        return scope[whole.group(1)]
    return _REF.sub(lambda m: _text(scope[m.group(1)]), value)


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return str(v)


def text(v):
    """A parameter value as one line for the node (lists: words joined by spaces)."""
    return _text(v)
