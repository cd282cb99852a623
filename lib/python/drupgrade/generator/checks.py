"""The generated state checks of a new version (design §4.8.3.1 "生成测试用例"): a pytest-testinfra
module that a node at the new version passes and a node at an older one fails.

`write(out_dir, analysis, source)` writes `out_dir/checks/test_<product>_<X_Y_Z>_state.py` and
`out_dir/checks/conftest.py` (which lends the modules beside it the lab fixtures of the tool's state
checks, tests/infra/conftest.py: `node` per lab node with its roles, `nodes`, the `roles` marker,
`--lab-dir`), and returns [(path written, [TODO, ...])]. `source` is the opened new package
(generator/source.py: `product`, `version`, `root`, `manifest` {path: sha256}, `hints` its product's
generator.json); of `analysis` (generator/analyze.py) it reads `units.to` (each unit of the new
package with the roles it runs on, none: every role) and `config.releases` (the new package's keys
per release: defaults, renames, removals). What the module checks, and where each part comes from:
- files: every file of the package's MANIFEST.sha256 under the program link (product.json parameters
  `link`) with its sha256; the version file (product.json `version_file`) holds the version;
- services: per role, product.json roles.<role>.units and the package's units of the role, active;
- listening ports: the hint's listeners (`ports.listen`: roles, a fixed port or the config key holding
  it, read on the node, an address), and every config key of the version matching `ports.key_pattern`
  that no listener names: a unit of the package named after a part of the key
  (`<unit_prefix><part>.service`) makes its roles the listeners (a guess, said so in the file); else a
  TODO;
- schema version: the hint's command (`schema_version`: roles, command, the JSON field of its output if
  any) prints the version;
- config keys: every release's keys up to the version, renames and removals of a release before its new
  keys, are present, the renamed and removed ones absent (hint `config_get`: the product's command that
  exits 0 for a key the node's config holds).
The hints are generator.json's "checks" (`${product.X}` is product.json's parameter X). A part they do
not give is a TODO: a line "TODO: ..." of UNDECIDED in the module, which `test_nothing_left_undecided`
fails on until the engineer writes that check and removes the line.
"""
import os
import re
import textwrap

from drupgrade import templates, versions

CHECKS_DIR = "checks"
WIDTH = 120  # the generated module's longest line (ruff.toml line-length: it may be dropped into tests/infra)


def module_name(product, version):
    """The file name of a version's generated state checks (tests/infra/conftest.py collects it for
    that product and version when it is dropped into tests/infra)."""
    return "test_%s_%s_state.py" % (product, version.replace(".", "_"))


def write(out_dir, analysis, source):
    """Write the state checks of source's version into out_dir/checks/; [(path, [TODO, ...])]."""
    product, version = source.product, source.version
    h = source.hints.get("checks", {})
    where = "products/%s/generator.json" % product.name  # as the messages name it
    scope = {"product." + k: v for k, v in product.parameters.items()}

    def sub(value, path):
        return templates.substitute(value, scope, where, "checks." + path)

    todos = []
    units = role_units(product, analysis["units"]["to"])
    present, absent, defaults = config_keys(analysis["config"]["releases"], version)
    if not (present or absent):
        todos.append("config keys: the package declares no config keys per release (generator.json config.keys)")
    config_get = sub(h["config_get"], "config_get") if "config_get" in h else None
    if config_get is None:
        todos.append("config keys: give the product's command that exits 0 for a key the node's config holds "
                     "(%s checks.config_get)" % where)
    ports, guesses, port_todo = listeners(h.get("ports", {}), defaults, units, product, sub, where)
    todos += port_todo
    schema = h.get("schema_version")
    if schema:
        schema = {"roles": schema["roles"], "command": sub(schema["command"], "schema_version.command"),
                  "field": schema.get("field")}
    else:
        todos.append("schema version: give the product's command that prints it and its roles "
                     "(%s checks.schema_version)" % where)
    data = {
        "PRODUCT": product.name,
        "VERSION": version,
        "LINK": product.parameters["link"],
        "VERSION_FILE": product.version_file,
        "FILES": dict(source.manifest),
        "UNITS": units,
        "PORTS": ports,
        "CONFIG_GET": config_get,
        "CONFIG_PRESENT": present,
        "CONFIG_ABSENT": absent,
        "SCHEMA": schema,
        "TODOS": todos,
    }
    text = render(data, guesses, analysis["units"].get("added", []), source)
    compile(text, module_name(product.name, version), "exec")  # a bug of the generator, not of the input
    out = os.path.join(out_dir, CHECKS_DIR)
    os.makedirs(out, exist_ok=True)
    written = []
    for name, content, its_todos in ((module_name(product.name, version), text, todos),
                                     ("conftest.py", CONFTEST, [])):
        path = os.path.join(out, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        written.append((path, its_todos))
    return written


def role_units(product, package_units):
    """{role: [unit, ...]}: product.json's units of each role, then the package's units of the role
    (analysis units.to; a unit with no roles runs on every node)."""
    units = {r: list(product.roles[r].get("units", [])) for r in sorted(product.roles)}
    for unit in sorted(package_units):
        for role in package_units[unit]["roles"] or sorted(units):
            if unit not in units.setdefault(role, []):
                units[role].append(unit)
    return units


def config_keys(releases, version):
    """(present, absent, {key: default}): the keys of the version's config, every release up to the
    version in order, a release's renames and removals before its new keys."""
    present, absent, defaults = set(), set(), {}
    for rel in sorted(releases, key=versions.key):
        if versions.key(rel) > versions.key(version):
            continue
        entry = releases[rel]
        for old, new in entry.get("rename", {}).items():
            present.discard(old)
            absent.add(old)
            present.add(new)
            absent.discard(new)
            if old in defaults:
                defaults[new] = defaults.pop(old)
        for old in entry.get("remove", []):
            present.discard(old)
            absent.add(old)
            defaults.pop(old, None)
        for key, value in entry.get("defaults", {}).items():
            present.add(key)
            absent.discard(key)
            defaults[key] = value
    return sorted(present), sorted(absent), defaults


def listeners(hint, defaults, units, product, sub, where):
    """(ports, guesses, TODOs): the hint's listeners, then a listener for every config key matching
    key_pattern that none names, on the roles of the package's unit named after a part of the key."""
    ports = []
    for i, entry in enumerate(hint.get("listen", [])):
        p = {"roles": sorted(entry["roles"])}
        if "key" in entry:
            p["key"] = entry["key"]
        else:
            p["port"] = int(sub(entry["port"], "ports.listen[%d].port" % i))
        if entry.get("address"):
            p["address"] = entry["address"]
        ports.append(p)
    guesses, todos = [], []
    if not ports:
        todos.append("listening ports: give the ports the product listens on (%s checks.ports)" % where)
    pattern = hint.get("key_pattern")
    named = {p["key"] for p in ports if "key" in p}
    prefix = product.parameters.get("unit_prefix", product.name + "-")
    for key in sorted(defaults):
        if not pattern or not re.search(pattern, key) or key in named:
            continue
        parts = [x.lower() for x in re.split(r"[._\-]", key) if x]
        unit = next((prefix + x + ".service" for x in parts
                     if any(prefix + x + ".service" in us for us in units.values())), None)
        if unit is None:
            todos.append("listening port: the config key %s (default %s) looks like a port; which roles listen "
                         "on it? (%s checks.ports.listen)" % (key, defaults[key], where))
            continue
        roles = sorted(r for r, us in units.items() if unit in us)
        ports.append({"roles": roles, "key": key})
        guesses.append("%s is the port of %s (the key and the unit's name), so its roles %s listen on it"
                       % (key, unit, ", ".join(roles)))
    return ports, guesses, todos


def _literal(name, value):
    return "%s = %s\n" % (name, _py(value, 0))


def _py(value, indent):
    """A Python literal of JSON-like data within WIDTH columns (the lint's limit): short lists and
    dicts on one line, else one item a line (a long value on the line after its key), long strings
    in pieces."""
    flat = repr(value)
    pad = " " * (indent + 4)
    if len(flat) + indent < WIDTH - 20:
        return flat
    if isinstance(value, str):
        pieces = [""]
        for word in re.findall(r"\S+\s*", value):
            if pieces[-1] and len(pieces[-1] + word) > 70:
                pieces.append("")
            pieces[-1] += word
        return "(%s)" % ("\n" + pad).join(repr(p) for p in pieces)
    if not isinstance(value, (dict, list)):
        return flat
    if isinstance(value, dict):
        items = []
        for k in sorted(value):
            v = _py(value[k], indent + 8)
            one = "%s%r: %s," % (pad, k, v)
            items.append(one if len(one) <= WIDTH and "\n" not in v else "%s%r:\n%s    %s," % (pad, k, pad, v))
        return "{\n%s\n%s}" % ("\n".join(items), " " * indent)
    items = ["%s%s," % (pad, _py(v, indent + 4)) for v in value]
    return "[\n%s\n%s]" % ("\n".join(items), " " * indent)


def render(data, guesses, added_units, source):
    """The module's text: its docstring, the data constants, the generic checks (BODY)."""
    product, version = data["PRODUCT"], data["VERSION"]
    head = ('"""State checks of %s %s, generated by `upgrade.sh generate` from %s (docs/framework.md,\n'
            '"Generated state checks"): a node at %s passes them, a node at any other version fails.\n\n'
            'Run from the tool\'s top directory against the lab of upgrade.ini and ssh_config in LAB_DIR:\n'
            '    python3 -m pytest DIR/checks [--lab-dir LAB_DIR] [--hosts node1,node2]\n'
            'or drop this file into tests/infra (then `python3 -m pytest tests/infra --product %s\n'
            '--product-version %s` runs it beside the hand-written checks).\n'
            'UNDECIDED lists what the generator could not decide: test_nothing_left_undecided fails until\n'
            'each is written here as a check and removed from the list.\n"""\n'
            % (product, version, os.path.basename(os.path.normpath(source.root)), version, product, version))
    parts = [head, "import json\n\nimport pytest\n\n"]
    for name in ("PRODUCT", "VERSION", "LINK", "VERSION_FILE"):
        parts.append(_literal(name, data[name]))
    parts.append("# files: the package's MANIFEST.sha256, relative to LINK (the active release)\n")
    parts.append(_literal("FILES", data["FILES"]))
    parts.append("# services: per role, product.json roles.<role>.units and the package's units of the role%s\n"
                 % ("\n# (new in %s: %s)" % (version, ", ".join(added_units)) if added_units else ""))
    parts.append(_literal("UNITS", data["UNITS"]))
    parts.append("# listening ports: {roles, port or the config key holding it, address (none: any)}\n")
    for g in guesses:
        lines = textwrap.wrap(g, WIDTH - 10, initial_indent="# guess: ", subsequent_indent="#   ")
        parts.append("\n".join(lines) + "\n")
    parts.append(_literal("PORTS", data["PORTS"]))
    parts.append("# config keys: CONFIG_GET KEY exits 0 for every key of PRESENT, not for those of ABSENT\n"
                 "# (every release's keys up to %s, renamed and removed ones absent)\n" % version)
    for name in ("CONFIG_GET", "CONFIG_PRESENT", "CONFIG_ABSENT"):
        parts.append(_literal(name, data[name]))
    parts.append("# schema version: {roles, command, field: the JSON field of its output (none: the output)}\n")
    parts.append(_literal("SCHEMA", data["SCHEMA"]))
    parts.append("# what the generator could not decide, one line each (write the check, then remove the line)\n")
    parts.append(_literal("UNDECIDED", ["TODO: " + t for t in data["TODOS"]]))
    parts.append(BODY)
    return "".join(parts)


BODY = '''

def roles_of(*tables):
    return sorted({r for t in tables for r in t})


def test_nothing_left_undecided():
    assert not UNDECIDED, "\\n".join(UNDECIDED)


def test_version_file(node):
    assert node.run_ok("cat " + VERSION_FILE).strip() == VERSION


def test_files(node):
    """Every file of the package under LINK, with the package's sha256."""
    names = sorted(FILES)
    r = node.host.run("cd %s/ && sha256sum -- " + " ".join(["%s"] * len(names)), LINK, *names)
    got = {}
    for line in r.stdout.splitlines():
        digest, _, name = line.partition("  ")
        got[name] = digest
    missing = sorted(set(FILES) - set(got))
    wrong = sorted(n for n in FILES if n in got and got[n] != FILES[n])
    assert not missing and not wrong, "%s: under %s, missing: %s; other content: %s\\n%s" % (
        node.name, LINK, missing, wrong, r.stderr[-2000:])


@pytest.mark.roles(*roles_of(UNITS))
def test_units_active(node):
    units = sorted({u for r in node.roles for u in UNITS.get(r, [])})
    states = dict(zip(units, node.host.run("systemctl is-active " + " ".join(units)).stdout.split()))
    down = {u: states.get(u, "?") for u in units if states.get(u) != "active"}
    assert not down, "%s: units not active: %s" % (node.name, down)


@pytest.mark.roles(*roles_of(*(p["roles"] for p in PORTS)))
def test_listening_ports(node):
    """Each port of the node's roles has a listener (on the given address, else on any)."""
    listening = set()
    for line in node.run_ok("ss -H -ltn").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        listening.add((address.strip("[]").split("%")[0], int(port)))
    missing = []
    for p in PORTS:
        if not set(p["roles"]) & set(node.roles):
            continue
        port = p.get("port")
        if "key" in p:
            r = node.host.run(CONFIG_GET + " " + p["key"])
            assert r.rc == 0, "%s: the port's key %s is not in the config: %s" % (node.name, p["key"], r.stderr)
            port = int(r.stdout.strip())
        address = p.get("address")
        if not ((address, port) in listening if address else any(n == port for _, n in listening)):
            missing.append("%s:%d" % (address or "*", port))
    assert not missing, "%s: nothing listens on %s" % (node.name, ", ".join(missing))


def test_config_keys(node):
    """CONFIG_GET of each key, in one round trip: 0 for those present, 1 for those absent."""
    assert CONFIG_GET, "no command to read the config (see UNDECIDED)"
    keys = CONFIG_PRESENT + CONFIG_ABSENT
    out = node.run_ok("for k in " + " ".join(["%s"] * len(keys)) + "; do " + CONFIG_GET
                      + ' "$k" >/dev/null 2>&1; echo "$k $?"; done', *keys)
    rc = dict(line.rsplit(" ", 1) for line in out.splitlines())
    lacking = [k for k in CONFIG_PRESENT if rc.get(k) != "0"]
    left = [k for k in CONFIG_ABSENT if rc.get(k) != "1"]
    assert not lacking and not left, "%s: keys missing: %s; keys still there (or unreadable): %s" % (
        node.name, lacking, left)


@pytest.mark.roles(*(SCHEMA["roles"] if SCHEMA else []))
def test_schema_version(node):
    out = node.run_ok(SCHEMA["command"])
    got = json.loads(out)[SCHEMA["field"]] if SCHEMA["field"] else out.strip()
    assert got == VERSION, "%s: `%s` says the schema is %s" % (node.name, SCHEMA["command"], got)
'''

CONFTEST = '''"""The lab fixtures of drupgrade's state checks for the generated modules beside this file: the
tool's tests/infra/conftest.py (`node` per lab node with its roles, `nodes`, the `roles` marker,
--lab-dir, testinfra over the lab's ssh_config), found under $DRUPGRADE_TOP, the current directory
or a directory above this one. Its collection rule (one product's test_<product>_state.py) is left
out: every module here is collected."""
import importlib.util
import os

import pytest

_REL = os.path.join("tests", "infra", "conftest.py")


def _find():
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [os.environ.get("DRUPGRADE_TOP", ""), os.getcwd()]
    while os.path.dirname(here) != here:
        here = os.path.dirname(here)
        dirs.append(here)
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, _REL)):
            return os.path.join(d, _REL)
    raise pytest.UsageError("no %s in $DRUPGRADE_TOP, the current directory or above %s: run from the "
                            "tool's top directory" % (_REL, os.path.dirname(os.path.abspath(__file__))))


_spec = importlib.util.spec_from_file_location("drupgrade_infra_conftest", _find())
_infra = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_infra)
globals().update({k: v for k, v in vars(_infra).items()
                  if not k.startswith("__") and k != "pytest_ignore_collect"})
'''
