"""What changed between two versions of a product (design §4.8.3.1: database structure,
configuration, program files, dependency components), read from the two packages only (never by
running their code), guided by the product's hints (products/<name>/generator.json).

analyze(old, new) returns one plain dict (JSON-serialisable; the generated state checks and the
draft read it):

{
  "product": NAME, "from": VERSION, "to": VERSION,
  "packages": {"from": PATH, "to": PATH},
  "database": {
    "dialect": "mariadb" | "sqlite",
    "migrations": [            # the new package's migrations beyond the old one, in order
      {"file": "share/migrations/0006_2.3.0_schema_x.sql", "seq": "0006", "version": "2.3.0",
       "kind": "schema" | "data", "name": "x", "rollback": PATH | None}],
    "schema_version": {"from": V, "to": V},        # the newest migration's version in each package
    "schema": {"from": TABLES, "to": TABLES},      # what each version expects, from its migrations
    "changes": {"tables_added": [T], "tables_removed": [T],
                "columns_added": [{"table", "column", "type"}], "columns_removed": [same],
                "columns_changed": [{"table", "column", "from", "to"}],
                "indexes_added": [{"table", "index", "columns", "unique"}], "indexes_removed": [same]}},
      # TABLES: {table: {"columns": [{"name", "type", "not_null", "default"}],
      #                  "primary_key": [column], "indexes": {name: {"columns": [c], "unique": bool}}}}
  "config": {
    "files": {"from": {"format", "path"}, "to": {"format", "path"}},
    "format_change": None | {"from": FORMAT, "to": FORMAT},
    "added": {KEY: DEFAULT},                       # keys the new version has that the old has not
    "removed": [KEY],
    "renamed": [{"from": KEY, "to": KEY, "guess": bool, "why": TEXT}],   # guess: not declared
    "possible_renames": [{"from": KEY, "to": KEY, "why": TEXT}],         # not applied: a person decides
    "keys": {"from": {KEY: DEFAULT}, "to": {KEY: DEFAULT}},  # the keys the releases' files name
    "releases": {RELEASE: {"defaults": {}, "rename": {}, "remove": []}},  # the new package's table
    "declared_in": [PATH]},
  "files": {"added": [PATH], "removed": [PATH], "changed": [PATH]},   # MANIFEST.sha256 of each
  "units": {
    "from": {UNIT: {"roles": [ROLE], "function": NAME, "where": "FILE:LINE"}}, "to": {same},
    "added": [UNIT], "removed": [UNIT],
    "dependencies": {"from": [DEP], "to": [DEP], "added": [DEP], "removed": [DEP]}},
      # DEP: {"unit", "kind": "Requires" | "After" | "Wants", "on": UNIT, "roles": [ROLE] (none:
      #       every node with the unit), "where": "FILE:LINE"}
  "dependencies": {"declared": bool, "files": [PATH], "from": {NAME: VERSION}, "to": {same},
                   "changed": [{"name", "from", "to"}]}      # None in from/to: not there
}
KEY is a dotted path (section.key in INI, a JSON path, or an env KEY); every list is sorted or in
the order the package gives.
"""
import fnmatch
import os
import re

from drupgrade import versions

# -- database ------------------------------------------------------------------------------------


def migrations(src):
    """[{file, seq, version, kind, name, rollback}] of a package, in file order."""
    h = src.hints["migrations"]
    pattern = re.compile(h["pattern"])
    d = src.file(h["dir"])
    found = []
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        m = pattern.match(name)
        if not m:
            continue
        g = m.groupdict()
        rollback = None
        if h.get("rollback_dir") and os.path.isfile(os.path.join(src.file(h["rollback_dir"]), name)):
            rollback = h["rollback_dir"] + "/" + name
        found.append({"file": h["dir"] + "/" + name, "seq": g["seq"], "version": g["version"],
                      "kind": g.get("kind") or "schema", "name": g["name"], "rollback": rollback})
    return found


_COMMENT = re.compile(r"--[^\n]*")
_DELIM_BLOCK = re.compile(r"^DELIMITER\s+(\S+)\s*$(.*?)^DELIMITER\s+;\s*$", re.M | re.S | re.I)
_CONSTRAINT_WORDS = ("NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "REFERENCES", "CHECK", "AUTO_INCREMENT",
                     "AUTOINCREMENT", "COLLATE", "AFTER", "FIRST", "COMMENT", "GENERATED", "CONSTRAINT",
                     "CHARACTER", "ON")
_IDENT = r"[`\"]?([A-Za-z_][A-Za-z0-9_]*)[`\"]?"


def _split(text, sep=","):
    """Split at sep outside parentheses and quotes."""
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def _names(text):
    return [re.sub(r"[`\"]|\(.*\)|\s+(ASC|DESC)$", "", c.strip(), flags=re.I) for c in _split(text)]


def _column(text):
    """{name, type, not_null, default} of a column definition (or None when it is not one)."""
    m = re.match(_IDENT + r"\s+(.*)$", text.strip(), re.S)
    if not m:
        return None, ""
    name, rest = m.group(1), m.group(2)
    words, type_words, depth = rest.split(), [], 0
    for w in words:
        if depth == 0 and w.upper().strip(",") in _CONSTRAINT_WORDS:
            break
        type_words.append(w)
        depth += w.count("(") - w.count(")")
    ctype = re.sub(r"\s*\(\s*", "(", " ".join(type_words)).replace(" )", ")").upper()
    tail = rest[len(" ".join(type_words)):]
    default = re.search(r"\bDEFAULT\s+('[^']*'|\S+)", tail, re.I)
    col = {"name": name, "type": ctype, "not_null": bool(re.search(r"\bNOT\s+NULL\b", tail, re.I)),
           "default": default.group(1).rstrip(",") if default else None}
    return col, tail


def _table_body(table, body):
    for part in _split(body):
        up = part.upper()
        m = re.match(r"(?:CONSTRAINT\s+\S+\s+)?PRIMARY\s+KEY\s*\((.*)\)", part, re.I | re.S)
        if m:
            table["primary_key"] = _names(m.group(1))
            continue
        m = re.match(r"(UNIQUE\s+)?(?:KEY|INDEX)\s+" + _IDENT + r"\s*\((.*)\)", part, re.I | re.S)
        if m:
            table["indexes"][m.group(2)] = {"columns": _names(m.group(3)), "unique": bool(m.group(1))}
            continue
        m = re.match(r"(?:CONSTRAINT\s+\S+\s+)?UNIQUE\s*(?:KEY\s*)?\((.*)\)", part, re.I | re.S)
        if m:
            cols = _names(m.group(1))
            table["indexes"]["unique(%s)" % ",".join(cols)] = {"columns": cols, "unique": True}
            continue
        if up.startswith(("FOREIGN KEY", "CHECK", "CONSTRAINT")):
            continue
        col, tail = _column(part)
        if col is None:
            continue
        table["columns"].append(col)
        if re.search(r"\bPRIMARY\s+KEY\b", tail, re.I):
            table["primary_key"] = [col["name"]]
        if re.search(r"\bUNIQUE\b", tail, re.I):
            table["indexes"]["unique(%s)" % col["name"]] = {"columns": [col["name"]], "unique": True}


def _statement(schema, stmt):
    """Apply one DDL statement to schema ({table: ...}); anything else (data) is left alone."""
    s = " ".join(stmt.split())
    m = re.match(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _IDENT + r"\s*\((.*)\)[^)]*$", s, re.I)
    if m:
        if m.group(1) not in schema:
            table = schema[m.group(1)] = {"columns": [], "primary_key": [], "indexes": {}}
            _table_body(table, m.group(2))
        return
    m = re.match(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?" + _IDENT, s, re.I)
    if m:
        schema.pop(m.group(1), None)
        return
    m = re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _IDENT + r"\s+ON\s+" + _IDENT +
                 r"\s*\((.*)\)", s, re.I)
    if m and m.group(3) in schema:
        schema[m.group(3)]["indexes"][m.group(2)] = {"columns": _names(m.group(4)), "unique": bool(m.group(1))}
        return
    m = re.match(r"DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?" + _IDENT + r"(?:\s+ON\s+" + _IDENT + ")?", s, re.I)
    if m:
        for name, table in schema.items():
            if m.group(2) in (None, name):
                table["indexes"].pop(m.group(1), None)
        return
    m = re.match(r"ALTER\s+TABLE\s+" + _IDENT + r"\s+(.*)$", s, re.I)
    if not m or m.group(1) not in schema:
        return
    name, table = m.group(1), schema[m.group(1)]
    for action in _split(m.group(2)):
        a = re.match(r"RENAME\s+TO\s+" + _IDENT, action, re.I)
        if a:
            schema[a.group(1)] = schema.pop(name)
            continue
        a = re.match(r"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(.*)$", action, re.I)
        if a and not re.match(r"(UNIQUE|INDEX|KEY|PRIMARY|CONSTRAINT|FOREIGN)\b", a.group(1), re.I):
            col, tail = _column(a.group(1))
            if col and all(c["name"] != col["name"] for c in table["columns"]):
                after = re.search(r"\bAFTER\s+" + _IDENT, tail, re.I)
                at = next((i + 1 for i, c in enumerate(table["columns"]) if after and c["name"] == after.group(1)),
                          len(table["columns"]))
                table["columns"].insert(at, col)
            continue
        if a:
            _table_body(table, a.group(1))
            continue
        a = re.match(r"DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?" + _IDENT + "$", action, re.I)
        if a and a.group(1).upper() not in ("INDEX", "KEY", "PRIMARY"):
            table["columns"] = [c for c in table["columns"] if c["name"] != a.group(1)]
            for iname in [i for i, ix in table["indexes"].items() if a.group(1) in ix["columns"]]:
                del table["indexes"][iname]
            continue
        a = re.match(r"DROP\s+(?:INDEX|KEY)\s+(?:IF\s+EXISTS\s+)?" + _IDENT, action, re.I)
        if a:
            table["indexes"].pop(a.group(1), None)
            continue
        a = re.match(r"MODIFY\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(.*)$", action, re.I)
        b = re.match(r"CHANGE\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?" + _IDENT + r"\s+(.*)$", action, re.I)
        if a or b:
            col, _tail = _column((a or b).group(b and 2 or 1))
            old = b.group(1) if b else (col or {}).get("name")
            table["columns"] = [col if col and c["name"] == old else c for c in table["columns"]]


def schema_of(src, found=None):
    """The tables the package's migrations (all of them, in order) leave: TABLES (module docstring)."""
    schema = {}
    for mig in found if found is not None else migrations(src):
        text = _COMMENT.sub("", src.read_text(mig["file"]) or "")
        text = _DELIM_BLOCK.sub("", text)  # procedural blocks move data, they do not change the structure
        for stmt in _split(text, ";"):
            if stmt.strip():
                _statement(schema, stmt)
    return schema


def schema_changes(a, b):
    out = {"tables_added": sorted(set(b) - set(a)), "tables_removed": sorted(set(a) - set(b)),
           "columns_added": [], "columns_removed": [], "columns_changed": [], "indexes_added": [],
           "indexes_removed": []}
    for t in sorted(set(a) & set(b)):
        ca = {c["name"]: c for c in a[t]["columns"]}
        cb = {c["name"]: c for c in b[t]["columns"]}
        out["columns_added"] += [{"table": t, "column": c, "type": cb[c]["type"]} for c in cb if c not in ca]
        out["columns_removed"] += [{"table": t, "column": c, "type": ca[c]["type"]} for c in ca if c not in cb]
        out["columns_changed"] += [{"table": t, "column": c, "from": ca[c], "to": cb[c]}
                                   for c in ca if c in cb and ca[c] != cb[c]]
        ia, ib = a[t]["indexes"], b[t]["indexes"]
        out["indexes_added"] += [dict(table=t, index=i, **ib[i]) for i in sorted(ib) if ia.get(i) != ib[i]]
        out["indexes_removed"] += [dict(table=t, index=i, **ia[i]) for i in sorted(ia) if ib.get(i) != ia[i]]
    for t in out["tables_added"]:
        out["indexes_added"] += [dict(table=t, index=i, **b[t]["indexes"][i]) for i in sorted(b[t]["indexes"])]
    return out


def _newest(found):
    return max((m["version"] for m in found), key=versions.key) if found else None


def database(old, new):
    mo, mn = migrations(old), migrations(new)
    known = {m["file"] for m in mo}
    beyond = [m for m in mn if m["file"] not in known or versions.key(m["version"]) > versions.key(old.version)]
    so, sn = schema_of(old, mo), schema_of(new, mn)
    return {"dialect": new.hints["migrations"]["dialect"], "migrations": beyond,
            "schema_version": {"from": _newest(mo), "to": _newest(mn)},
            "schema": {"from": so, "to": sn}, "changes": schema_changes(so, sn)}


# -- configuration -------------------------------------------------------------------------------


def releases(src):
    """{release: {defaults, rename, remove}} of the package's key files, releases in version order."""
    table = {}
    for spec in src.hints["config"]["keys"]:
        data = src.read_json(spec["file"]) or {}
        for release, entry in data.items():
            if release.startswith("_") or not isinstance(entry, dict):
                continue
            row = table.setdefault(release, {"defaults": {}, "rename": {}, "remove": []})
            if spec["layout"] == "defaults":
                row["defaults"].update(entry)
            else:
                row["defaults"].update(entry.get("defaults", {}))
                row["rename"].update(entry.get("rename", {}))
                row["remove"] += [k for k in entry.get("remove", []) if k not in row["remove"]]
    return {r: table[r] for r in sorted(table, key=versions.key)}


def keys_at(table, version):
    """{key: default} the releases up to version leave (their defaults, renames and removals)."""
    keys = {}
    for release, row in table.items():
        if versions.key(release) > versions.key(version):
            break
        for a, b in row["rename"].items():
            if a in keys:
                keys[b] = keys.pop(a)
        for k in row["remove"]:
            keys.pop(k, None)
        keys.update(row["defaults"])
    return keys


def window(table, lo, hi):
    """What a config of any release from lo up to hi needs to become hi's: {rename: {old: new},
    remove: [key], defaults: {key: value}} of the releases after lo up to hi. A key added and
    removed again inside the window is removed (a source in the window may have it), never added."""
    rename, remove, defaults = {}, [], {}
    for release, row in table.items():
        if not versions.key(lo) < versions.key(release) <= versions.key(hi):
            continue
        for a, b in row["rename"].items():
            for x, y in list(rename.items()):
                if y == a:
                    rename[x] = b
            rename.setdefault(a, b)
            if a in defaults:
                defaults[b] = defaults.pop(a)
        for k in row["remove"]:
            defaults.pop(k, None)
            if k not in remove:
                remove.append(k)
        for k, v in row["defaults"].items():
            defaults[k] = v
            if k in remove:
                remove.remove(k)
    return {"rename": rename, "remove": remove, "defaults": defaults}


def _parent(key):
    return key.rpartition(".")[0]


def guess_renames(table, lo, hi, changes):
    """Renames the releases do not declare, guessed from value and position: a key removed and a key
    added by the same release with the same value (the removed key's default of an older release),
    the one in the same section first. Applied to changes (window()) and returned marked as guesses
    with why. A removed and an added key alone in their section but with different values are
    returned apart (possible, not applied): a person decides."""
    found, possible = [], []
    before = keys_at(table, lo)
    for release, row in table.items():
        if not versions.key(lo) < versions.key(release) <= versions.key(hi):
            continue
        gone = [k for k in row["remove"] if k in before and k in changes["remove"]]
        new = [k for k in row["defaults"] if k not in before and k in changes["defaults"]]
        for k in gone:
            same_value = [n for n in new if row["defaults"][n] == before[k]]
            same_place = [n for n in new if _parent(n) == _parent(k)]
            section = _parent(k) or "(top level)"
            both = [n for n in same_value if n in same_place]
            pick = same_value[0] if len(same_value) == 1 else (both[0] if len(both) == 1 else None)
            if pick:
                why = "release %s removes %s and adds %s with the same value %r" % (release, k, pick, before[k])
                if pick in same_place:
                    why += ", in the same section %s" % section
                new.remove(pick)
                changes["remove"].remove(k)
                changes["rename"][k] = pick
                found.append({"from": k, "to": pick, "guess": True, "why": why})
            elif len(same_place) == 1 and len([g for g in gone if _parent(g) == _parent(k)]) == 1:
                possible.append({"from": k, "to": same_place[0], "why": (
                    "release %s removes %s and adds %s, the only key removed and the only key added in %s, "
                    "but their values differ (%r, %r)" % (release, k, same_place[0], section, before[k],
                                                           row["defaults"][same_place[0]]))})
    return found, possible


def file_at(src, version):
    """{format, path} of the product's config file at version (the hints' ranges), None when unnamed."""
    for f in src.hints["config"]["files"]:
        lo, hi = (versions.normalize(v) for v in f["versions"])
        if versions.key(lo) <= versions.key(version) <= versions.key(hi):
            return {"format": f["format"], "path": f["path"]}
    return None


_TYPES = {"str": None, "int": "integer", "bool": "boolean", "list": "list"}


def key_table(src, fmt_from, fmt_to):
    """The package's table for a format change (hints config.key_tables): {file, moves: {key: new
    key} where they differ, types: {new key: mapping type}, bad: [key whose entry is not [new key,
    type]]}, None when the package has none."""
    for t in src.hints["config"].get("key_tables", []):
        data = src.read_json(t["file"]) if (t["from"], t["to"]) == (fmt_from, fmt_to) else None
        if not isinstance(data, dict):
            continue
        found = {"file": t["file"], "moves": {}, "types": {}, "bad": []}
        for k, v in data.items():
            if k.startswith("_"):
                continue
            if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and v[1] in _TYPES):
                found["bad"].append(k)
                continue
            if v[0] != k:
                found["moves"][k] = v[0]
            if _TYPES[v[1]]:
                found["types"][v[0]] = _TYPES[v[1]]
        return found
    return None


def configuration(old, new):
    table = releases(new)
    changes = window(table, old.version, new.version)
    guessed, possible = guess_renames(table, old.version, new.version, changes)
    fo, fn = file_at(new, old.version), file_at(new, new.version)
    renamed = [{"from": a, "to": b, "guess": False,
                "why": "declared by the package (%s)" % ", ".join(s["file"] for s in new.hints["config"]["keys"])}
               for a, b in changes["rename"].items() if all(g["from"] != a for g in guessed)] + guessed
    return {"files": {"from": fo, "to": fn},
            "format_change": ({"from": fo["format"], "to": fn["format"]}
                              if fo and fn and fo["format"] != fn["format"] else None),
            "added": changes["defaults"], "removed": changes["remove"], "renamed": renamed,
            "possible_renames": possible,
            "keys": {"from": keys_at(table, old.version), "to": keys_at(table, new.version)},
            "releases": table,
            "declared_in": [s["file"] for s in new.hints["config"]["keys"] if os.path.isfile(new.file(s["file"]))]}


# -- program files -------------------------------------------------------------------------------


def files(old, new):
    a, b = old.manifest, new.manifest
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b)),
            "changed": sorted(p for p in set(a) & set(b) if a[p] != b[p])}


# -- units and services --------------------------------------------------------------------------

_DEP = re.compile(r"\b(after|wants|requires)\+?=\s*[\"']?([^\"';\\\n$]*)", re.I)
_FUNC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{")
_IF = re.compile(r"^\s*(?:if|elif)\s+(.*?);\s*then\b(.*)$")


def _conditions(h, text):
    roles = re.findall(h["role_condition"], text) if h.get("role_condition") else []
    since = re.findall(h["version_condition"], text) if h.get("version_condition") else []
    return {"roles": roles, "since": since}


def units_of(src):
    """({unit: {roles, function, where}}, [DEP]) the package's unit generator writes."""
    h = src.hints["units"]
    writer = re.compile(h["writer"])

    def ours(name):
        return any(fnmatch.fnmatchcase(name, p) for p in h["patterns"])

    units, deps, bodies = {}, [], {}
    for rel in h["generator"]:
        text = src.read_text(rel)
        if text is None:
            continue
        func, stack = None, []
        for n, line in enumerate(text.splitlines(), 1):
            where = "%s:%d" % (rel, n)
            m = _FUNC.match(line)
            if m:
                func, stack = m.group(1), []
                continue
            if line.startswith("}"):
                func = None
                continue
            m = _IF.match(line)
            if m:
                cond = _conditions(h, m.group(1))
                active = stack + [cond]
                if not re.search(r"\bfi\s*$", m.group(2)):  # not `if ...; then ...; fi` on one line
                    stack.append(cond)
            elif re.match(r"^\s*fi\b", line):
                stack = stack[:-1]
                continue
            else:
                if re.match(r"^\s*else\b", line) and stack:
                    stack[-1] = {"roles": [], "since": []}  # the other branch: no condition known
                active = list(stack)
            since = [v for c in active for v in c["since"]]
            if any(versions.key(v) > versions.key(src.version) for v in since):
                continue  # not written by this version
            roles = sorted({r for c in active for r in c["roles"]})
            w = writer.search(line)
            if w and ours(w.group("unit")):
                units[w.group("unit")] = {"roles": roles, "function": w.group("function"), "where": where}
            if func:
                # printf 'After=...\\nWants=...' (a literal backslash-n) writes two directives
                for kind, value in [d for part in line.split("\\n") for d in _DEP.findall(part)]:
                    for on in value.split():
                        if ours(on):
                            bodies.setdefault(func, []).append(
                                {"kind": kind.capitalize(), "on": on, "roles": roles, "where": where})
    for unit, info in units.items():
        for d in bodies.get(info["function"], []):
            if d["on"] != unit:
                dep = dict(unit=unit, **d)
                if all(_dep_key(x) != _dep_key(dep) or x["roles"] != dep["roles"] for x in deps):
                    deps.append(dep)
    return units, deps


def _dep_key(d):
    return (d["unit"], d["kind"], d["on"])


def units(old, new):
    uo, do = units_of(old)
    un, dn = units_of(new)
    ko = {(_dep_key(d), tuple(d["roles"])) for d in do}
    kn = {(_dep_key(d), tuple(d["roles"])) for d in dn}
    return {"from": uo, "to": un, "added": sorted(set(un) - set(uo)), "removed": sorted(set(uo) - set(un)),
            "dependencies": {"from": do, "to": dn,
                             "added": [d for d in dn if (_dep_key(d), tuple(d["roles"])) not in ko],
                             "removed": [d for d in do if (_dep_key(d), tuple(d["roles"])) not in kn]}}


# -- dependency components -----------------------------------------------------------------------


def _declared(src):
    found = {}
    for rel in src.hints.get("dependencies", []):
        text = src.read_text(rel)
        if text is None:
            continue
        if rel.endswith(".json"):
            data = src.read_json(rel) or {}
            found.update({k: str(v) for k, v in data.items() if not k.startswith("_")})
            continue
        for line in text.splitlines():
            m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
            if m:
                found[m.group(1)] = m.group(2)
    return found


def dependencies(old, new):
    a, b = _declared(old), _declared(new)
    return {"declared": bool(new.hints.get("dependencies")), "files": list(new.hints.get("dependencies", [])),
            "from": a, "to": b,
            "changed": [{"name": n, "from": a.get(n), "to": b.get(n)} for n in sorted(set(a) | set(b))
                        if a.get(n) != b.get(n)]}


def analyze(old, new):
    """The differences between the Sources old and new (the module docstring says the shape)."""
    return {"product": new.product.name, "from": old.version, "to": new.version,
            "packages": {"from": old.path, "to": new.path},
            "database": database(old, new), "config": configuration(old, new), "files": files(old, new),
            "units": units(old, new), "dependencies": dependencies(old, new)}
