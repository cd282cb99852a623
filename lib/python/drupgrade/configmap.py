"""Config files mapped key by key (design §4.8.1.1, config migration): a mapping file
(products/<name>/config/*.json, schemas/config_mapping.json) says the source and target format
(INI or JSON), the keys renamed, removed, defaulted (set when absent) and set, and for INI to JSON
the type of a value. Keys are dotted: section.key in INI, a path in JSON (INI has two levels).

The mapping runs on the controller; the node step that installs the result is the component
service/config (the controller puts the mapped file on the node first: nodeops)."""
import configparser
import io
import json
import os
from collections import OrderedDict

from drupgrade import config, manifest
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import _


def load(path):
    """A mapping file, validated (exit 2 naming file, JSON path and the expected value)."""
    return config.load_json(path, "config_mapping")


def parse(text, fmt, where):
    """The nested data of a config file's text (INI: {section: {key: text}})."""
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


def render(data, fmt, where):
    """The text of a config file from its nested data; INI takes two levels of scalars or lists."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
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


def _ini_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(_ini_text(x) for x in v)
    return str(v)


def _get(data, key):
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
        if found and not _get(data, new)[0]:
            _put(data, new, value)
    for key in mapping.get("remove", []):
        _pop(data, key)
    for key, value in mapping.get("set", {}).items():
        _put(data, key, value)
    for key, value in mapping.get("defaults", {}).items():
        if not _get(data, key)[0]:
            _put(data, key, value)
    for key, kind in mapping.get("types", {}).items():
        found, value = _get(data, key)
        if found:
            _put(data, key, _typed(value, kind, key, where))
    return data


def convert(text, mapping, where="<config>"):
    """A config file's text in the source format -> the target format's text, mapped."""
    data = parse(text, mapping["source"]["format"], where)
    return render(apply(data, mapping, where), mapping["target"]["format"], where)


# -- the node side: what the controller prepares for the component service/config ----------------
COMPONENT = "service/config"


def mapped_path(binding, prod, version, work_dir):
    """Where the controller puts the mapped file on the node for this step and hop."""
    base = prod.package_name(version)[:-len(".tar.gz")]
    return "%s/%s.config/%s-%s" % (work_dir, base, binding.step, binding.params["target"].rsplit("/", 1)[-1])


def bind(binding, prod, version, work_dir, path, where):
    """Complete a service/config binding: its mapping file (products/<name>/<mapping>) checked and
    kept, the node path of the mapped file in the parameter `mapped`."""
    for key in ("file", "mapping"):
        if not isinstance(binding.params.get(key), str) or not binding.params[key]:
            raise config.file_error(path, where, _("the component {component} needs the parameter {name}").format(
                component=COMPONENT, name=key))
    binding.params.setdefault("target", binding.params["file"])
    binding.mapping = load(os.path.join(prod.dir, binding.params["mapping"]))
    binding.params["mapped"] = mapped_path(binding, prod, version, work_dir)


def prepare(transport, node, binding):
    """Map the node's config file on the controller and put the result where the node step reads
    it (binding.params['mapped']). Done once per hop: a mapped file already there (a retry, or the
    node's file already replaced by it) is kept, so the original is never mapped twice."""
    p = binding.params
    if transport.run(node, ["test", "-f", p["mapped"]]).rc == 0:
        return False
    text, why = manifest.read_remote(transport, node, p["file"])
    if why:
        raise DrupgradeError(_("node {node}: the config file {file} {reason}").format(
            node=node.name, file=p["file"], reason=why), code=EXIT_FAILED,
            hint=_("check the file on the node, then: bin/upgrade.sh retry"))
    out = convert(text, binding.mapping, "%s:%s" % (node.name, p["file"]))
    script = 'umask 077 && mkdir -p -- "${1%/*}" && cat > "$1.part" && mv -f -- "$1.part" "$1"'
    res = transport.run(node, ["bash", "-c", script, "drconfig", p["mapped"]], stdin=out.encode("utf-8"))
    if res.rc != 0:
        raise DrupgradeError(_("cannot write {file} on node {node}: {detail}").format(
            file=p["mapped"], node=node.name, detail=res.stderr.strip()))
    return True
