"""Config files mapped key by key (design §4.8.1.1, config migration): a mapping file
(products/<name>/config/*.json, schemas/config_mapping.json) says the source and target format
(INI, JSON or env: KEY=value lines), the keys renamed, removed, defaulted (set when absent) and
set, and for INI to JSON the type of a value. Keys are dotted: section.key in INI, a path in JSON
(INI has two levels, env one). A step may chain mapping files (one per release, applied in order).

The mapping runs on the controller; the node step that installs the result is the component
service/config (the controller puts the mapped file on the node first: nodeops)."""
import configparser
import io
import json
import os
import re
from collections import OrderedDict

from drupgrade import config, manifest, templates
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import _


def load(path):
    """A mapping file, validated (exit 2 naming file, JSON path and the expected value)."""
    return config.load_json(path, "config_mapping")


ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse(text, fmt, where):
    """The nested data of a config file's text (INI: {section: {key: text}}; env: {KEY: text})."""
    if fmt == "env":
        return _parse_env(text, where)
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=OrderedDict)
        except ValueError as e:
            raise config.file_error(where, _("line {n}").format(n=getattr(e, "lineno", "?")),
                                    _("not valid JSON: {reason}").format(reason=getattr(e, "msg", str(e)))) from None
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str
    try:
        parser.read_string(text, source=where)
    except configparser.Error as e:
        raise config.file_error(where, "", str(e.message).splitlines()[0]) from None
    return OrderedDict((s, OrderedDict(parser.items(s))) for s in parser.sections())


def _parse_env(text, where):
    """KEY=value lines (systemd EnvironmentFile syntax, no quoting: the value is the rest of the
    line); blank lines and '#' comment lines are left out; a key given twice is an error."""
    out = OrderedDict()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = ENV_LINE.match(line)
        if not m:
            raise config.file_error(where, _("line {n}").format(n=n), _("expected KEY=value, found {text!r}").format(
                text=line[:60]))
        if m.group(1) in out:
            raise config.file_error(where, _("line {n}").format(n=n), _("the key {key} is given twice").format(
                key=m.group(1)))
        out[m.group(1)] = m.group(2)
    return out


def _sorted(data):
    if not isinstance(data, dict):
        return data
    return OrderedDict((k, _sorted(data[k])) for k in sorted(data))


def render(data, fmt, where, header="", sort_keys=False):
    """The text of a config file from its nested data; INI takes two levels of scalars or lists,
    env one. header: comment lines first (INI, env); sort_keys: keys in sorted order."""
    if sort_keys:
        data = _sorted(data)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    if header:
        out.write(header.rstrip("\n") + "\n")
    if fmt == "env":
        for k, v in data.items():
            value = _ini_text(v, " ")
            if isinstance(v, dict) or "\n" in value:
                raise config.file_error(where, k, _("an env file holds KEY=value lines; {key} holds more").format(
                    key=k))
            out.write("%s=%s\n" % (k, value))
        return out.getvalue()
    for section, keys in data.items():
        if not isinstance(keys, dict):
            raise config.file_error(where, section, _("an INI file holds sections of keys; {key} is a value").format(
                key=section))
        out.write("[%s]\n" % section)
        for k, v in keys.items():
            if isinstance(v, dict):
                raise config.file_error(where, "%s.%s" % (section, k), _(
                    "an INI file holds two levels; {key} holds more").format(key="%s.%s" % (section, k)))
            out.write("%s = %s\n" % (k, _ini_text(v)))
        out.write("\n")
    return out.getvalue()


def _ini_text(v, sep=", "):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return sep.join(_ini_text(x) for x in v)
    return str(v)


def lookup(data, key):
    """(found, value) of a dotted key in a config file's nested data."""
    cur = data
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _pop(data, key):
    """Take the key out, and the tables that leave empty: (found, value)."""
    parts = key.split(".")
    chain = [data]
    for part in parts[:-1]:
        cur = chain[-1].get(part) if isinstance(chain[-1], dict) else None
        if not isinstance(cur, dict):
            return False, None
        chain.append(cur)
    if not isinstance(chain[-1], dict) or parts[-1] not in chain[-1]:
        return False, None
    value = chain[-1].pop(parts[-1])
    for i in range(len(chain) - 1, 0, -1):
        if chain[i]:
            break
        del chain[i - 1][parts[i - 1]]
    return True, value


def _put(data, key, value):
    parts = key.split(".")
    cur = data
    for part in parts[:-1]:
        cur = cur.setdefault(part, OrderedDict())
    cur[parts[-1]] = value


def _typed(value, kind, key, where):
    if kind == "string" or not isinstance(value, str):
        return value
    text = value.strip()
    if kind == "list":
        return [x.strip() for x in text.split(",") if x.strip()]
    if kind == "boolean" and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return text.lower() in ("true", "yes", "on", "1")
    if kind == "integer" and text.lstrip("-").isdigit():
        return int(text)
    raise config.file_error(where, key, _("bad value {value!r}: expected a value of type {type}").format(
        value=value, type=kind))


def apply(data, mapping, where="<config>"):
    """The mapped data: renames first (a missing source key is nothing to rename; when the new key
    is there already it wins and the old one goes), then removals, then set, then defaults (only
    where the key is absent), then the types of the target. A table a rename or a removal leaves
    empty goes too."""
    data = json.loads(json.dumps(data), object_pairs_hook=OrderedDict)  # a copy
    for old, new in mapping.get("rename", {}).items():
        found, value = _pop(data, old)
        if found and not lookup(data, new)[0]:
            _put(data, new, value)
    for key in mapping.get("remove", []):
        _pop(data, key)
    for key, value in mapping.get("set", {}).items():
        _put(data, key, value)
    for key, value in mapping.get("defaults", {}).items():
        if not lookup(data, key)[0]:
            _put(data, key, value)
    for key, kind in mapping.get("types", {}).items():
        found, value = lookup(data, key)
        if found:
            _put(data, key, _typed(value, kind, key, where))
    return data


def convert(text, mapping, where="<config>"):
    """A config file's text in the source format -> the target format's text, mapped. mapping: one
    mapping or a list applied in order (each one's source format the previous one's target)."""
    chain = mapping if isinstance(mapping, list) else [mapping]
    data = parse(text, chain[0]["source"]["format"], where)
    for m in chain:
        data = apply(data, m, where)
    target = chain[-1]["target"]
    return render(data, target["format"], where, target.get("header", ""), target.get("sort_keys", False))


def substitute(mapping, scope, path):
    """A loaded mapping with ${…} in its header, set and defaults values replaced from scope (the
    hop's: ${target_version}, ${source_version}, ${product.X}); an unknown reference is exit 2."""
    m = json.loads(json.dumps(mapping), object_pairs_hook=OrderedDict)
    if "header" in m["target"]:
        m["target"]["header"] = templates.substitute(m["target"]["header"], scope, path, "/target/header")
    for part in ("set", "defaults"):
        for key, value in m.get(part, {}).items():
            m[part][key] = templates.substitute(value, scope, path, "/%s/%s" % (part, key))
    return m


# -- the node side: what the controller prepares for the component service/config ----------------
COMPONENT = "service/config"


def mapped_path(binding, prod, version, work_dir):
    """Where the controller puts the mapped file on the node for this step and hop."""
    base = prod.package_name(version)[:-len(".tar.gz")]
    return "%s/%s.config/%s-%s" % (work_dir, base, binding.step, binding.params["target"].rsplit("/", 1)[-1])


def bind(binding, prod, scope, work_dir, path, where):
    """Complete a service/config binding: its mapping file (products/<name>/<mapping>; a list of
    them: applied in order) checked, substituted with the hop's scope and kept, the node path of the
    mapped file in the parameter `mapped`."""
    files = binding.params.get("mapping")
    files = files if isinstance(files, list) else [files]
    if not isinstance(binding.params.get("file"), str) or not binding.params["file"] or not all(files):
        raise config.file_error(path, where, _("the component {component} needs the parameter {name}").format(
            component=COMPONENT, name="mapping" if binding.params.get("file") else "file"))
    if not binding.params.get("target"):
        binding.params["target"] = binding.params["file"]
    binding.mapping = []
    for name in files:
        file = os.path.join(prod.dir, name)
        m = substitute(load(file), scope, file)
        if binding.mapping and m["source"]["format"] != binding.mapping[-1]["target"]["format"]:
            raise config.file_error(file, "/source/format", _(
                "bad value {value!r}: expected {format}, the target format of the mapping before it").format(
                value=m["source"]["format"], format=binding.mapping[-1]["target"]["format"]))
        binding.mapping.append(m)
    binding.params["mapped"] = mapped_path(binding, prod, scope["target_version"], work_dir)


def prepare(transport, node, binding, run_id):
    """Map the node's config file on the controller and put the result where the node step reads
    it (binding.params['mapped']), marked with the run (`mapped`.run). Done once per run and hop: a
    mapped file of this run already there (a retry, or the node's file already replaced by it) is
    kept, so the original is never mapped twice; one of another run (left by a run that failed or
    was rolled back) is mapped again from the node's file as it is now."""
    p = binding.params
    mine = '[ -f "$1" ] && grep -qxF -- "$2" "$1.run"'
    if transport.run(node, ["bash", "-c", mine, "drconfig", p["mapped"], run_id]).rc == 0:
        return False
    text, why = manifest.read_remote(transport, node, p["file"])
    if why:
        raise DrupgradeError(_("node {node}: the config file {file} {reason}").format(
            node=node.name, file=p["file"], reason=why), code=EXIT_FAILED,
            hint=_("check the file on the node, then: bin/upgrade.sh retry"))
    out = convert(text, binding.mapping, "%s:%s" % (node.name, p["file"]))
    script = ('umask 077 && mkdir -p -- "${1%/*}" && cat > "$1.part" && mv -f -- "$1.part" "$1" && '
              'printf "%s\\n" "$2" > "$1.run"')
    res = transport.run(node, ["bash", "-c", script, "drconfig", p["mapped"], run_id], stdin=out.encode("utf-8"))
    if res.rc != 0:
        raise DrupgradeError(_("cannot write {file} on node {node}: {detail}").format(
            file=p["mapped"], node=node.name, detail=res.stderr.strip()))
    return True
