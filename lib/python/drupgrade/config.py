"""Load upgrade.ini and the JSON data files, validate them with jsonschema, refuse unsafe ones."""
import configparser
import json
import os
import stat

import jsonschema

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

DEFAULTS = {
    "ssh_config": {"username": "root", "port": 22, "host_key_policy": "accept-new"},
    "paths": {
        "state_dir": "/var/lib/drupgrade",
        "node_tool_dir": "/opt/drupgrade",
        "node_package_dir": "/var/lib/drupgrade/packages",
        "node_backup_dir": "/backup",
        "node_run_dir": "/var/lib/drupgrade/runs",
    },
    "transfer": {"method": "auto", "cipher": "auto", "compression": "auto", "retries": 3,
                 "connect_timeout": 30},
    # The design's table §4.6.1: interval, timeout, reconnects per connection type.
    "heartbeat": {
        "control_interval": 60, "control_timeout": 180, "control_reconnects": 3,
        "transfer_interval": 30, "transfer_timeout": 120, "transfer_reconnects": 2,
        "plugin_interval": 45, "plugin_timeout": 150, "plugin_reconnects": 1,
        "status_interval": 90, "status_timeout": 300,
    },
    "run": {"max_parallel": 4, "fault_injection": "off"},
    "timeouts": {},
    "plugins": {},
    "packages": {},
    "backup": {"keep": 3},
}
CONN_TYPES = ("control", "transfer", "plugin", "status")
LIST_KEYS = ("roles",)
PATH_KEYS = ("private_key_path", "state_dir", "known_hosts", "dir", "repo", "public_key")


def _config_error(path, where, problem):
    return DrupgradeError(
        _("configuration error in {file}: {where}: {problem}").format(
            file=path, where=where or "/", problem=problem),
        code=EXIT_USAGE,
        hint=_("fix the file and run the command again; nothing was changed on any node"))


def load_schema(name):
    with open(os.path.join(SCHEMA_DIR, name + ".json")) as f:
        return json.load(f)


# The rules of a dedicated directory (schema definition dedicated_dir, by its x-rule): the tool
# creates, writes and may remove things there, so it must be a directory of its own (SPEC S5).
PATH_RULES = {
    "absolute": N_("must be an absolute path (starting with /)"),
    "characters": N_("may hold only letters, digits and . _ / + @ -"),
    "dot-segment": N_("must not hold . or .. segments (write the path it means)"),
    "double-slash": N_("must not hold // (write the path with single slashes)"),
    "trailing-slash": N_("must not end with /"),
    "pseudo-filesystem": N_("is under /proc, /sys or /dev"),
    "system-directory": N_("is a system directory; give the tool a directory of its own (e.g. /opt/drupgrade, "
                           "/var/lib/drupgrade/runs)"),
}
# What the node steps keep under /var/lib/drupgrade besides the configured dirs (nodeops.write_context).
NODE_FIXED_DIRS = ("/var/lib/drupgrade/work", "/var/lib/drupgrade/node-state")


def _expected(error):
    """What the schema expected, in the operator's language."""
    v, arg = error.validator, error.validator_value
    rule = error.schema.get("x-rule") if isinstance(error.schema, dict) else None
    if rule in PATH_RULES:
        return _(PATH_RULES[rule])
    if v == "type":
        names = {"integer": _("a whole number"), "string": _("a text value"),
                 "object": _("a section or object"), "array": _("a list"),
                 "boolean": _("true or false"), "number": _("a number")}
        return _("expected {what}").format(what=names.get(arg, arg))
    if v == "enum":
        return _("expected one of: {values}").format(values=", ".join(str(a) for a in arg))
    if v == "required":
        return _("a required key is missing: {detail}").format(detail=error.message)
    if v in ("additionalProperties", "propertyNames"):
        return _("unknown or malformed key: {detail}").format(detail=error.message)
    if v in ("minimum", "maximum"):
        return _("value out of range ({rule} {limit})").format(rule=v, limit=arg)
    if v == "pattern":
        return _("value has characters or a form that is not allowed (must match {pattern})").format(
            pattern=arg)
    if v in ("minItems", "minProperties"):
        return _("must not be empty")
    return error.message


def validate(data, schema, path, key_style="json"):
    """Validate data against schema; raise a DrupgradeError naming file, key path, value and rule."""
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    parts = [str(p) for p in err.absolute_path]
    if key_style == "ini" and parts:
        if parts[0] == "nodes" and len(parts) > 1:
            parts = ["[node:%s]" % parts[1]] + parts[2:]
        else:
            parts = ["[%s]" % parts[0]] + parts[1:]
        where = " ".join(parts[:1]) + ("" if len(parts) == 1 else " " + ".".join(parts[1:]))
    else:
        where = "/" + "/".join(parts)
    problem = _expected(err)
    if err.validator not in ("required", "additionalProperties", "propertyNames"):
        problem = _("bad value {value!r}: {expected}").format(value=err.instance, expected=problem)
    raise _config_error(path, where, problem)


def _read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DrupgradeError(_("cannot read configuration file {file}: {reason}").format(
            file=path, reason=e.strerror), code=EXIT_USAGE,
            hint=_("check the path given with --config")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise _config_error(path, _("line {n}").format(n=line),
                            _("the file is not valid UTF-8 (byte {b})").format(b=e.start)) from None
    if not text.strip():
        raise _config_error(path, "", _("the file is empty"))
    return text


def _coerce(section, key, value, schema):
    """INI values are text: turn them into what the schema types say."""
    if key in LIST_KEYS:
        return [r.strip() for r in value.split(",") if r.strip()]
    props = schema["properties"].get(section, {})
    if section == "nodes":
        props = props["additionalProperties"]
    prop = props.get("properties", {}).get(key) or props.get("additionalProperties")
    if isinstance(prop, dict) and "$ref" in prop:
        prop = schema["definitions"][prop["$ref"].split("/")[-1]]
    if isinstance(prop, dict) and prop.get("type") == "integer" and value.strip().lstrip("-").isdigit():
        return int(value)
    return value.strip()


def parse_ini(path, text, schema):
    parser = configparser.RawConfigParser(strict=True, interpolation=None)
    parser.optionxform = str
    try:
        parser.read_string(text, source=path)
    except configparser.Error as e:
        line = getattr(e, "lineno", None)
        where = _("line {n}").format(n=line) if line else ""
        raise _config_error(path, where, str(e.message).splitlines()[0]) from None
    data = {}
    for name in parser.sections():
        if name.startswith("node:"):
            target = data.setdefault("nodes", {}).setdefault(name[5:], {})
            section = "nodes"
        else:
            target = data.setdefault(name, {})
            section = name
        for key, value in parser.items(name):
            if value.strip():  # an empty value means "not set"
                target[key] = _coerce(section, key, value, schema)
    return data


def check_secret_file(path, data):
    """A config holding a password must be 0600 (or stricter) and owned by the invoking user."""
    has_secret = "password" in data.get("ssh_config", {}) or any(
        "password" in n for n in data.get("nodes", {}).values())
    if not has_secret:
        return
    st = os.stat(path)
    uid = os.geteuid()
    if st.st_uid != uid:
        raise DrupgradeError(
            _("{file} holds a password but is owned by uid {owner}, not by you (uid {uid})").format(
                file=path, owner=st.st_uid, uid=uid),
            code=EXIT_USAGE, hint=_("run: chown {uid} {file}").format(uid=uid, file=path))
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise DrupgradeError(
            _("{file} holds a password but can be read by others (mode {mode:04o})").format(
                file=path, mode=stat.S_IMODE(st.st_mode)),
            code=EXIT_USAGE, hint=_("run: chmod 600 {file}").format(file=path))


class Node:
    """One node of the cluster with its effective ssh settings."""

    def __init__(self, name, entry, ssh):
        self.name = name
        self.host = entry["host"]
        self.roles = list(entry["roles"])
        self.port = entry.get("port", ssh["port"])
        self.username = entry.get("username", ssh["username"])
        self.password = entry.get("password", ssh.get("password"))
        self.private_key_path = entry.get("private_key_path", ssh.get("private_key_path"))
        self.host_key_policy = entry.get("host_key_policy", ssh["host_key_policy"])

    @property
    def auth_method(self):
        return "key" if self.private_key_path else "password"

    def __repr__(self):
        return "Node(%s@%s:%s)" % (self.name, self.host, self.port)


class Config:
    """The validated configuration, with defaults applied."""

    def __init__(self, path, data):
        self.path = path
        self.data = {s: dict(DEFAULTS.get(s, {}), **data.get(s, {})) for s in
                     set(DEFAULTS) | set(data) if s != "nodes"}
        base = os.path.dirname(os.path.abspath(path))
        for section in self.data.values():
            for key in PATH_KEYS:
                if key in section:
                    section[key] = os.path.join(base, os.path.expanduser(section[key]))
        ssh = self.data["ssh_config"]
        self.nodes = []
        for name, entry in data["nodes"].items():
            if "private_key_path" in entry:
                entry = dict(entry, private_key_path=os.path.join(
                    base, os.path.expanduser(entry["private_key_path"])))
            self.nodes.append(Node(name, entry, ssh))
        paths = self.data["paths"]
        paths.setdefault("known_hosts", os.path.join(paths["state_dir"], "known_hosts"))

    def section(self, name):
        return self.data.get(name, {})

    @property
    def paths(self):
        return self.data["paths"]

    @property
    def transfer(self):
        return self.data["transfer"]

    @property
    def run(self):
        return self.data["run"]

    @property
    def timeouts(self):
        return self.data["timeouts"]

    def heartbeat(self, conn_type):
        if conn_type not in CONN_TYPES:
            raise ValueError(conn_type)
        hb = self.data["heartbeat"]
        return {"interval": hb[conn_type + "_interval"], "timeout": hb[conn_type + "_timeout"],
                "reconnects": hb.get(conn_type + "_reconnects")}

    @property
    def secrets(self):
        found = [self.data["ssh_config"].get("password")] + [n.password for n in self.nodes]
        return sorted({s for s in found if s})

    def node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _inside(a, b):
    return a == b or a.startswith(b + "/")


def check_node_dirs(data, path):
    """The node tool dir is replaced as a whole: it must neither hold nor lie inside another
    directory of the tool on the nodes; the other node dirs must differ from each other."""
    paths = dict(DEFAULTS["paths"], **data.get("paths", {}))
    tool = paths["node_tool_dir"]
    others = [("node_package_dir", paths["node_package_dir"]), ("node_backup_dir", paths["node_backup_dir"]),
              ("node_run_dir", paths["node_run_dir"])]
    for key, other in others + [(_("the tool's own node state"), d) for d in NODE_FIXED_DIRS]:
        if _inside(tool, other) or _inside(other, tool):
            raise _config_error(path, "[paths] node_tool_dir", _(
                "{tool} overlaps {other} ({what}): the tool dir is replaced as a whole on every install, "
                "so it must be a directory of its own").format(tool=tool, other=other, what=key))
    for i, (key, value) in enumerate(others):
        for key2, value2 in others[i + 1:]:
            if value == value2:
                raise _config_error(path, "[paths] " + key2, _("{key2} = {value} is also {key}: give each its own "
                                                              "directory").format(key2=key2, value=value, key=key))


def load(path):
    """Read, validate and check upgrade.ini; any problem is a DrupgradeError with exit 2."""
    schema = load_schema("upgrade_ini")
    text = _read_text(path)
    data = parse_ini(path, text, schema)
    validate(data, schema, path, key_style="ini")
    check_node_dirs(data, path)
    check_secret_file(path, data)
    return Config(path, data)


def load_json(path, schema_name):
    """Read a JSON data file and validate it against schemas/<schema_name>.json."""
    text = _read_text(path)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _config_error(path, _("line {n}").format(n=getattr(e, "lineno", "?")),
                            _("not valid JSON: {reason}").format(reason=getattr(e, "msg", str(e)))) from None
    validate(data, load_schema(schema_name), path)
    return data
