"""The draft of a new version's upgrade data, from the analysis (analyze.py) and the product's data
as it is (products/<name>/): the files to write into the output directory, laid out like
products/<name>/ so that they can be copied there, the decisions taken (with why) and the points a
person must decide (TODO).

What it decides (GENERATED.md repeats it for each draft):
- matrix: the new version joins every row that reaches the old one (supported and direct targets;
  a row with a progressive path goes through the old version); the old version gets a row of its own;
- strategy: it starts from the widest strategy of the product that applies to the hop old -> new
  (none: the strategy of the newest hop into the old version); its source range is every source of
  the new version in the matrix with the old version's config format, up to the old version
  (a TODO to confirm); the target range is the new version alone;
- config: when keys are added, removed or renamed, or the format changes, a mapping file (the keys
  of every release after the lowest source, so that each source in the range becomes the new
  version's; `target` and `set` of the product's previous mapping of the same formats) bound
  through the product's template that maps config files (config_pre on service/config), drafted
  (extending the strategy's config template) when it has none;
- a new unit: its product parameter (<name>_unit), its place in the units list (stop order: after
  the units that must start after it), in the services template's start_units (before the first
  unit that needs it), and a validation template that also checks it is active;
- migrations: the list (migrations.json), run by the strategy's database template; a dropped
  column or table is a TODO (is its data kept?).

A TODO is written into the file it concerns: a top-level "TODO" list of "JSON_PATH: question"
lines, which the file's schema refuses, so nothing with an open point passes `strategies --check`
until a person decided and removed it. Each is also listed in GENERATED.md and GENERATED.json.
"""
import copy
import json
import os
import re

from drupgrade import steps, strategies, templates, versions
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.generator import analyze
from drupgrade.i18n import _

TODO_KEY = "TODO"


def _v(version):
    return "v" + version


def _us(version):
    return version.replace(".", "_")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Draft:
    """files: {relative path: JSON data or text}; decisions: [text]; todos: [{file, path, question,
    suggestion}]."""

    def __init__(self, analysis, old, new):
        self.analysis = analysis
        self.old, self.new = old, new
        self.product = new.product
        self.files = {}
        self.decisions = []
        self.todos = []
        self.strategy_file = None

    def todo(self, rel, path, question, suggestion):
        self.todos.append({"file": rel, "path": path, "question": question, "suggestion": suggestion})

    def decide(self, text):
        self.decisions.append(text)

    def finish(self):
        """Mark every TODO in its file (JSON files: the top-level "TODO" list)."""
        for t in self.todos:
            data = self.files.get(t["file"])
            if isinstance(data, dict):
                data.setdefault(TODO_KEY, []).append("%s: %s (draft: %s)" % (t["path"], t["question"],
                                                                             t["suggestion"]))
        return self


# -- matrix --------------------------------------------------------------------------------------


def matrix(d):
    """The product's matrix with the new version; {entries added} for the report."""
    data = _load(d.product.matrix_path)
    old, new = _v(d.old.version), _v(d.new.version)
    added = []
    if new not in data["versions"]:
        data["versions"].append(new)
        added.append("versions += %s" % new)
    rows = data["version_compatibility"]
    for src, row in rows.items():
        if old in row["supported_targets"] and new not in row["supported_targets"]:
            row["supported_targets"].append(new)
            added.append("%s.supported_targets += %s" % (src, new))
        if old in row["direct_upgrade"] and new not in row["direct_upgrade"]:
            row["direct_upgrade"].append(new)
            added.append("%s.direct_upgrade += %s" % (src, new))
        if row["progressive_upgrade"] and old in row["supported_targets"] and old not in row["progressive_upgrade"]:
            row["progressive_upgrade"].append(old)
            added.append("%s.progressive_upgrade += %s" % (src, old))
    if old not in rows:
        rows[old] = {"supported_targets": [new], "direct_upgrade": [new], "progressive_upgrade": []}
        added.append("new row %s: direct to %s" % (old, new))
    d.files["version_matrix.json"] = data
    d.decide("matrix: " + ("; ".join(added) if added else "the matrix has the hop already, nothing added"))
    return versions.Matrix(data)


# -- strategy ------------------------------------------------------------------------------------


def base_strategy(cat, m, old, new):
    """The strategy the draft starts from, and why."""
    found = [s for s in cat.strategies if s.applies(old, new)]
    widest = [s for s in found if all(o.within(s) for o in found)]
    if widest:
        return widest[0], "the widest strategy that applies to the hop v%s -> v%s" % (old, new)
    into = sorted((s for s, row in m.rows.items() if old in row.get("direct_upgrade", [])), key=versions.key)
    if into:
        s = cat.select(into[-1], old)
        return s, "the strategy of the newest hop into v%s (v%s -> v%s)" % (old, into[-1], old)
    raise DrupgradeError(_("no strategy of the product {product} applies to v{old} -> v{new} or to a hop into "
                           "v{old}: there is nothing to start the draft from").format(
                               product=cat.product.name, old=old, new=new), code=EXIT_USAGE,
                         hint=_("write a first strategy for the product by hand (docs/framework.md, "
                                "'Adding a product')"))


def _file_format(src, version):
    f = analyze.file_at(src, version)
    return f["format"] if f else None


def source_ranges(d, m):
    """[(lo, hi, format)] of the new version's sources in the matrix, one range per config format,
    the old version's first."""
    old, new = d.old.version, d.new.version
    sources = sorted((s for s, row in m.rows.items() if new in row.get("direct_upgrade", [])
                      and versions.key(s) <= versions.key(old)), key=versions.key)
    groups = {}
    for s in sources:
        groups.setdefault(_file_format(d.new, s), []).append(s)
    mine = _file_format(d.new, old)
    found = [(g[0], g[-1], f) for f, g in groups.items() if f == mine and old in g] or [(old, old, mine)]
    found[0] = (found[0][0], old, mine)
    return found + sorted(((g[0], g[-1], f) for f, g in groups.items() if f != mine), key=lambda x: versions.key(x[0]))


def _entries(plan, phase):
    for p in plan:
        if p["phase"] == phase:
            return p["components"]
    return []


def _ref_value(prod, value):
    m = re.match(r"^\$\{product\.([a-z][a-z0-9_]*)\}$", value) if isinstance(value, str) else None
    return prod.parameters.get(m.group(1), value) if m else value


def _product_ref(prod, value):
    """${product.X} for a value a product parameter holds exactly (its own text otherwise)."""
    if isinstance(value, str) and value:
        for k, v in sorted(prod.parameters.items()):
            if v == value:
                return "${product.%s}" % k
    return value


# -- config --------------------------------------------------------------------------------------


def _mapping_template(d, lib, entry_tid):
    """(template id, resolved, drafted: bool) of the product's template mapping config files."""
    def maps(res):
        return any(s["step_name"] == "config_pre" and s.get("component") == "service/config" for s in res["steps"])

    res = lib.resolve(entry_tid)
    if maps(res):
        return entry_tid, res, False
    # a template of the product's that extends it and maps (the newest hop's, say)
    for tid in lib.ids():
        if lib.raw[tid].path.startswith(d.product.dir + os.sep):
            chain, cur = [], tid
            while cur:
                chain.append(cur)
                cur = lib.raw[cur].parent if cur in lib.raw else None
            if entry_tid in chain and maps(lib.resolve(tid)):
                return tid, lib.resolve(tid), False
    tid = entry_tid + "_map"
    data = {"template_id": tid, "template_version": "1.0.0", "extends": entry_tid,
            "description": "%s, with the config file mapped key by key on the controller before the install (a "
                           "mapping file of the product's config/, installed by service/config); drafted by "
                           "upgrade.sh generate" % entry_tid,
            "parameters": {
                "file": {"type": "string", "required": True, "description": "the node's config file the mapping reads"},
                "target": {"type": "string", "required": True,
                           "description": "the file the mapped config becomes (file itself, or the new format's)"},
                "mapping": {"type": "string", "required": True, "description": "the mapping file, relative to the "
                                                                                "product's directory"}},
            "execution_steps": [{"step_name": "config_pre", "component": "service/config",
                                 "parameters": {"file": "${file}", "target": "${target}", "mapping": "${mapping}"}}]}
    _add_template(d, lib, "templates/%s.json" % tid, data)
    return tid, lib.resolve(tid), True


def _add_template(d, lib, rel, data):
    """A drafted template: among the files, and known to the library for the steps after."""
    d.files[rel] = data
    lib.raw[data["template_id"]] = templates.Template(os.path.join(d.product.dir, rel), data)


def _previous_mapping(d, fmt_from, fmt_to):
    """The product's newest mapping file with the same formats (its target and set are reused)."""
    cdir = os.path.join(d.product.dir, "config")
    best = None
    for name in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
        try:
            data = _load(os.path.join(cdir, name))
        except (OSError, ValueError):
            continue
        if data.get("source", {}).get("format") == fmt_from and data.get("target", {}).get("format") == fmt_to:
            best = (name, data)
    return best


def _through_table(table, renames):
    """(rename, types) of a format change: each key moved where the package's table puts it, then
    the releases' renames (a key moved to a name a release renames goes straight to the new name)."""
    rename = dict(table["moves"])
    types = dict(table["types"])
    for a, b in renames.items():
        olds = [k for k, v in rename.items() if v == a]
        for k in olds:
            rename[k] = b
        if not olds:
            rename[a] = b
        if a in types:
            types[b] = types.pop(a)
    return rename, types


def config(d, lib, plan, lo, hi):
    """The mapping of the sources lo..hi, bound in the plan's upgrade phase; its file or None."""
    a = d.analysis["config"]
    table = a["releases"]
    ch = analyze.window(table, lo, d.new.version)
    guessed, possible = analyze.guess_renames(table, lo, d.new.version, ch)
    f_lo, f_new = analyze.file_at(d.new, lo), analyze.file_at(d.new, d.new.version)
    if not (ch["rename"] or ch["remove"] or ch["defaults"]) and f_lo["format"] == f_new["format"]:
        d.decide("config: no key added, removed or renamed and the same format: the strategy's config step kept")
        return None
    rel = d.new.hints["config"]["mapping_file"].replace("{from}", lo).replace("{to}", d.new.version)
    prev = _previous_mapping(d, f_lo["format"], f_new["format"])
    target = copy.deepcopy(prev[1]["target"]) if prev else {"format": f_new["format"]}
    mapping = {"comment": "%s %s from v%s..v%s to v%s: the keys every release after v%s renames, removes and adds "
                          "(%s of the v%s package); drafted by upgrade.sh generate%s" % (
                              d.product.name, f_lo["path"], lo, hi, d.new.version, lo,
                              ", ".join(a["declared_in"]) or "-", d.new.version,
                              ", target and set as in config/%s" % prev[0] if prev else ""),
               "source": {"format": f_lo["format"]}, "target": target}
    table = analyze.key_table(d.new, f_lo["format"], f_new["format"]) if f_lo["format"] != f_new["format"] else None
    rename, types = dict(ch["rename"]), {}
    if table and not table["bad"]:
        rename, types = _through_table(table, ch["rename"])
    if rename:
        mapping["rename"] = rename
    if ch["remove"]:
        mapping["remove"] = ch["remove"]
    if ch["defaults"]:
        mapping["defaults"] = {k: _product_ref(d.product, v) for k, v in ch["defaults"].items()}
    if prev and prev[1].get("set"):
        mapping["set"] = copy.deepcopy(prev[1]["set"])
    if types:
        mapping["types"] = types
    d.files[rel] = mapping
    d.decide("config: mapping %s (%d renamed, %d removed, %d added where missing) for every source from v%s" % (
        rel, len(ch["rename"]), len(ch["remove"]), len(ch["defaults"]), lo))
    for g in guessed:
        d.todo(rel, "/rename/" + g["from"], "a rename guessed, not declared by the package: %s" % g["why"],
               "renamed %s -> %s" % (g["from"], g["to"]))
    for p in possible:
        d.todo(rel, "/remove", "is %s -> %s a rename? %s" % (p["from"], p["to"], p["why"]),
               "not a rename: %s removed, %s added with its default" % (p["from"], p["to"]))
    if table and not table["bad"]:
        d.decide("config: the format changes from %s to %s: every key where the package's table %s puts it "
                 "(%d moved, %d typed), then the releases' renames" % (
                     f_lo["format"], f_new["format"], table["file"], len(table["moves"]), len(types)))
    elif f_lo["format"] != f_new["format"]:
        d.todo(rel, "/rename", "the format changes from %s to %s: every key's place in the new format (and "
                               "its type under /types)%s" % (
                                   f_lo["format"], f_new["format"],
                                   "; the package's table %s is not [new key, type] at: %s" % (
                                       table["file"], ", ".join(table["bad"])) if table else ""),
               "only the renames of the releases")
    # bind it: the strategy's config template in the upgrade phase, replaced by the mapping template
    ups = _entries(plan, "upgrade")
    at = next((i for i, e in enumerate(ups) if "template" in e
               and lib.resolve(e["template"])["type"] == "config_migration"), None)
    if at is None:
        d.todo(d.strategy_file, "/upgrade_strategy/execution_plan", "the strategy has no config template in its "
               "upgrade phase: add one that uses %s" % rel, "none")
        return rel
    ups_tid = ups[at]["template"]
    tid, res, drafted = _mapping_template(d, lib, ups_tid)
    kept = dict(ups[at].get("parameters", {})) if tid == ups[at]["template"] else {}
    params = {}
    file_p = res["parameters"].get("file", {})
    if file_p.get("required") or file_p.get("default") != f_lo["path"]:
        params["file"] = f_lo["path"]
    if res["parameters"].get("target", {}).get("required") or f_new["path"] != f_lo["path"]:
        params["target"] = f_new["path"]
    kind = res["parameters"].get("mapping", {}).get("type", "string")
    params["mapping"] = [rel] if kind == "array" else rel
    params.update({k: v for k, v in kept.items() if k not in params})
    ups[at] = {"template": tid, "parameters": params}
    d.decide("config: the upgrade phase maps the file with template %s (%s)" % (
        tid, "drafted: it extends %s and binds config_pre to service/config" % ups_tid
        if drafted else "the product's"))
    return rel


# -- units ---------------------------------------------------------------------------------------


def _param_name(d, unit):
    h = d.new.hints["units"]
    for k, v in sorted(d.product.parameters.items()):
        if v == unit:
            return k, False
    stem = unit
    if h.get("parameter_prefix") and stem.startswith(h["parameter_prefix"]):
        stem = stem[len(h["parameter_prefix"]):]
    stem = re.sub(r"\.service$", "", stem)
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") + "_unit", True


def units(d):
    """The product's data for new units (product.json); ({unit: ${product.X}}, ordering dependencies)."""
    u = d.analysis["units"]
    deps = u["dependencies"]["to"]
    ordering = [x for x in deps if x["kind"] in ("After", "Requires")]
    prod_data = _load(d.product.declaration)
    params = prod_data["parameters"]
    changed = False
    list_param = d.new.hints["units"].get("list_parameter")
    refs = {}
    for unit in u["added"]:
        if list_param and unit in params.get(list_param, []):
            d.decide("units: %s is in product.json parameters.%s already" % (unit, list_param))
        name, new_param = _param_name(d, unit)
        refs[unit] = "${product.%s}" % name
        if new_param:
            params[name] = unit
            changed = True
        d.decide("units: %s is new; product parameter %s (%s)" % (unit, name, "added" if new_param else "there"))
        if list_param and isinstance(params.get(list_param), list) and unit not in params[list_param]:
            lst = params[list_param]
            after = [i for i, x in enumerate(lst) if any(o["unit"] == x and o["on"] == unit for o in ordering)]
            before = [i for i, x in enumerate(lst) if any(o["unit"] == unit and o["on"] == x for o in ordering)]
            pos = (after[-1] + 1) if after else (before[0] if before else len(lst))
            lst.insert(pos, unit)
            changed = True
            d.decide("units: %s placed in product.json parameters.%s at %d (stop order: after the units that start "
                     "after it: %s)" % (unit, list_param, pos, ", ".join(lst[i] for i in after) or "none"))
    if changed:
        d.files["product.json"] = prod_data
    for x in u["dependencies"]["added"]:
        d.decide("units: new dependency %s %s=%s%s (%s)" % (x["unit"], x["kind"], x["on"], (
            " on nodes with role " + ",".join(x["roles"])) if x["roles"] else "", x["where"]))
    for x in u["dependencies"]["removed"]:
        d.decide("units: dependency gone: %s %s=%s (%s)" % (x["unit"], x["kind"], x["on"], x["where"]))
    for unit in u["removed"]:
        d.files["product.json"] = prod_data
        d.todo("product.json", "/parameters/%s" % list_param, "the unit %s is gone in v%s: keep it in the list so "
               "that the stop, the backup and the rollback still find it on the old version's nodes?" % (
                   unit, d.new.version), "kept")
    return refs, ordering


def _start_order(d, lib, plan, refs, ordering):
    ups = _entries(plan, "upgrade")
    for e in ups:
        if "template" not in e or "start_units" not in lib.resolve(e["template"])["parameters"]:
            continue
        res = lib.resolve(e["template"])
        start = list(e.get("parameters", {}).get("start_units", res["parameters"]["start_units"].get("default", [])))
        names = [_ref_value(d.product, x) for x in start]
        before = list(start)
        for unit, ref in refs.items():
            needs = [i for i, n in enumerate(names) if any(o["unit"] == n and o["on"] == unit for o in ordering)]
            if needs:
                start.insert(needs[0], ref)
                names.insert(needs[0], unit)
        for o in ordering:  # an existing unit that now starts after another listed after it
            if o["unit"] in names and o["on"] in names and names.index(o["unit"]) < names.index(o["on"]):
                i, j = names.index(o["unit"]), names.index(o["on"])
                start.insert(i, start.pop(j))
                names.insert(i, names.pop(j))
        if start != before:
            e.setdefault("parameters", {})["start_units"] = start
            d.decide("services: start_units of %s: %s (a unit before the units that need it: After=/Requires=)" % (
                e["template"], ", ".join(start)))
        elif refs or d.analysis["units"]["dependencies"]["added"]:
            d.decide("services: start_units of %s kept (%s): systemd orders the units they start by their "
                     "After= and Requires=" % (e["template"], ", ".join(start)))


def _validation(d, lib, plan, refs):
    if not refs:
        return
    post = _entries(plan, "postcheck")
    at = next((i for i, e in enumerate(post) if "template" in e
               and lib.resolve(e["template"])["type"] == "validation"), None)
    if at is None:
        d.todo(d.strategy_file, "/upgrade_strategy/execution_plan", "no validation template in the postcheck "
               "phase: check the new units %s" % ", ".join(refs), "none")
        return
    parent = post[at]["template"]
    res = lib.resolve(parent)
    step = next((s for s in res["steps"] if any(k.startswith("check_") for k in s.get("parameters", {}))), None)
    if step is None:
        return
    tid = "%s_v%s" % (parent, _us(d.new.version))
    rel = "templates/%s.json" % tid
    post[at] = dict(post[at], template=tid)
    if rel in d.files:  # drafted for another strategy of this version
        return
    checks = copy.deepcopy(step["parameters"])
    added = []
    for unit, ref in refs.items():
        roles = d.analysis["units"]["to"][unit]["roles"]
        key = "check_" + ref[len("${product."):-len("_unit}")]
        checks[key] = "%s: unit %s" % (",".join(roles) or "any", ref)
        added.append(key)
    _add_template(d, lib, rel, {"template_id": tid, "template_version": "1.0.0", "extends": parent,
                    "description": "%s from v%s on: its checks, and that the new units are active (%s); drafted by "
                                   "upgrade.sh generate" % (parent, d.new.version, ", ".join(refs)),
                    "execution_steps": [{"step_name": step["step_name"], "parameters": checks}]})
    d.decide("postcheck: template %s extends %s with %s" % (tid, parent, ", ".join(added)))
    for key in added:
        d.todo(rel, "/execution_steps/0/parameters/" + key, "what else proves the new unit works (its own health "
               "answer, a port, what the other units now expect of it)", "only that the unit is active")


# -- database ------------------------------------------------------------------------------------


def migrations(d, lib, plan):
    db = d.analysis["database"]
    rel = "migrations.json"
    ch = db["changes"]
    d.files[rel] = {"comment": "the migrations the v%s package carries beyond v%s and the schema change they "
                               "make (drafted by upgrade.sh generate)" % (d.new.version, d.old.version),
                    "dialect": db["dialect"], "schema_version": db["schema_version"],
                    "migrations": db["migrations"], "changes": ch}
    if not db["migrations"]:
        d.decide("database: no new migration")
        return
    ups = _entries(plan, "upgrade")
    runs = [e["template"] for e in ups if "template" in e and lib.resolve(e["template"])["type"] == "database_upgrade"]
    if runs:
        d.decide("database: %d migration(s) (%s) run by the product's migration tool through %s" % (
            len(db["migrations"]), ", ".join(m["seq"] for m in db["migrations"]), ", ".join(runs)))
    else:
        d.todo(d.strategy_file, "/upgrade_strategy/execution_plan", "the package has %d new migration(s) but the "
               "strategy's upgrade phase has no database template" % len(db["migrations"]), "none")
    for i, m in enumerate(db["migrations"]):
        if not m["rollback"]:
            d.todo(rel, "/migrations/%d/rollback" % i, "migration %s has no rollback script" % m["file"],
                   "the rollback restores the backup")
    for i, c in enumerate(ch["columns_removed"]):
        d.todo(rel, "/changes/columns_removed/%d" % i, "the column %s.%s is dropped: is its data moved elsewhere by "
               "the migration, or meant to go? (the data migration's record guard counts rows, not columns)" % (
                   c["table"], c["column"]), "moved by the migration")
    for i, t in enumerate(ch["tables_removed"]):
        d.todo(rel, "/changes/tables_removed/%d" % i, "the table %s is dropped: is its data moved elsewhere, or "
               "meant to go? (the record guard refuses a table that loses rows)" % t, "moved by the migration")


def dependencies(d):
    dep = d.analysis["dependencies"]
    if not dep["declared"]:
        d.decide("dependency components: the product declares no third-party versions in its packages "
                 "(generator.json dependencies is empty): nothing compared")
    elif dep["changed"]:
        d.todo(d.strategy_file, "/upgrade_strategy/execution_plan", "third-party parts changed (%s): does the "
               "dependency template of the strategy update them?" % ", ".join(
                   "%s %s -> %s" % (c["name"], c["from"], c["to"]) for c in dep["changed"]),
               "the strategy's dependency template as it is")
    else:
        d.decide("dependency components: the declared versions (%s) did not change" % ", ".join(dep["files"]))


def strategy(d, cat, m, lo, hi, fmt, refs, ordering, first):
    """The strategy of the sources lo..hi (config format fmt) into the new version."""
    prod, new = d.product, d.new.version
    lib = cat.library
    base, why = base_strategy(cat, m, hi, new)
    sid = "%s_v%s_to_v%s" % (prod.name, _us(lo), _us(new))
    d.strategy_file = "strategies/%s.json" % sid
    plan = copy.deepcopy(base.data)["execution_plan"]
    d.decide("strategy %s (v%s..v%s, config format %s) starts from %s (%s), file %s" % (
        sid, lo, hi, fmt, base.id, why, os.path.relpath(base.path, prod.dir)))
    mapping = config(d, lib, plan, lo, hi)
    _start_order(d, lib, plan, refs, ordering)
    _validation(d, lib, plan, refs)
    if first:
        migrations(d, lib, plan)
        dependencies(d)
    a = d.analysis
    what = ["config mapped by %s" % mapping] if mapping else []
    if a["units"]["added"]:
        what.append("new units %s" % ", ".join(a["units"]["added"]))
    if a["database"]["migrations"]:
        what.append("migrations %s" % ", ".join(x["seq"] for x in a["database"]["migrations"]))
    d.files[d.strategy_file] = {"upgrade_strategy": {
        "strategy_id": sid,
        "name": "%s v%s..v%s to v%s (drafted by upgrade.sh generate from %s): %s" % (
            prod.name, lo, hi, new, base.id, "; ".join(what) or "as " + base.id),
        "name_zh": "%s v%s..v%s 升级到 v%s（upgrade.sh generate 据两个安装包由 %s 起草）" % (
            prod.name, lo, hi, new, base.id),
        "applicable_versions": {"source_range": [_v(lo), _v(hi)], "target_range": [_v(new), _v(new)]},
        "execution_plan": plan}}
    d.todo(d.strategy_file, "/upgrade_strategy/applicable_versions/source_range",
           "the sources this strategy takes to v%s: the matrix's sources of v%s whose config format is %s" % (
               new, new, fmt), "[%s, %s]" % (_v(lo), _v(hi)))


def build(analysis, old, new):
    """The Draft of the hop old -> new (Sources) from its analysis: one strategy per config format
    of the new version's sources, the old version's first."""
    d = Draft(analysis, old, new)
    cat = strategies.Catalog(new.product, strategies.engine_steps(steps.ROOT))
    m = matrix(d)
    refs, ordering = units(d)
    for i, (lo, hi, fmt) in enumerate(source_ranges(d, m)):
        strategy(d, cat, m, lo, hi, fmt, refs, ordering, i == 0)
    return d.finish()
