"""Load upgrade.ini and the JSON data files, validate them with jsonschema, refuse unsafe ones."""
import configparser
import json
import os
import pwd
import shlex
import stat

import jsonschema

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.steps import ROOT

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
PRODUCTS_DIR = os.path.join(ROOT, "products")  # one directory per product: products/<name>/product.json
DEFAULT_PRODUCT = "drp"

DEFAULTS = {
    "ssh_config": {"username": "root", "port": 22, "host_key_policy": "accept-new"},
    "paths": {
        "state_dir": "/var/lib/drupgrade",
        "node_tool_dir": "/opt/drupgrade",
        "node_package_dir": "/var/lib/drupgrade/packages",
        "node_backup_dir": "/backup",
        "node_run_dir": "/var/lib/drupgrade/runs",
    },
    "transfer": {"method": "auto", "cipher": "auto", "compression": "auto", "distribution": "auto", "retries": 3,
                 "connect_timeout": 30},
    # The design's table §4.6.1: interval, timeout, reconnects per connection type.
    "heartbeat": {
        "control_interval": 60, "control_timeout": 180, "control_reconnects": 3,
        "transfer_interval": 30, "transfer_timeout": 120, "transfer_reconnects": 2,
        "plugin_interval": 45, "plugin_timeout": 150, "plugin_reconnects": 1,
        "status_interval": 90, "status_timeout": 300,
    },
    "run": {"max_parallel": 20, "fault_injection": "off", "on_failure": "rollback"},
    "timeouts": {},
    "plugins": {},
    "packages": {},
    "backup": {"keep": 3},
    "product": {"name": DEFAULT_PRODUCT},
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


def file_error(path, where, problem):
    """The exit-2 error for a bad data file: the file, the JSON path (or INI key) and the problem."""
    return _config_error(path, where, problem)


def load_schema(name):
    with open(os.path.join(SCHEMA_DIR, name + ".json"), encoding="utf-8") as f:  # LANG=C on Python 3.6: ASCII
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


def expected(error):
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
    problem = expected(err)
    if parts and parts[-1] == "password":  # never echo a secret (the redactor does not know it yet)
        problem = _("the value has a character that is not allowed (a line break or another control "
                    "character)") if err.validator == "pattern" else problem
    elif err.validator not in ("required", "additionalProperties", "propertyNames"):
        problem = _("bad value {value!r}: {expected}").format(value=err.instance, expected=problem)
    raise _config_error(path, where, problem)


# -- files we trust: opened once, checked on the descriptor, read from it with a cap -------------
MAX_FILE_BYTES = 1 << 20  # configs, data files, answers files, keys: anything bigger is not one of ours


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _refuse(message, hint):
    return DrupgradeError(message, code=EXIT_USAGE, hint=hint)


def _trust_problem(st, path, what, sticky_ok=False):
    """The refusal for a file or directory that someone else could change (None: trusted).
    Trusted: owned by the invoking user or root, not group- or world-writable (a directory with
    the sticky bit, like /tmp, when sticky_ok: nobody can replace another's file in it)."""
    uid = os.geteuid()
    mode = stat.S_IMODE(st.st_mode)
    quoted = shlex.quote(path)
    if st.st_uid not in (uid, 0):
        return _refuse(
            _("{what} {file} is owned by {owner} (mode {mode:04o}), not by you ({user}) or root: its owner "
              "could change what this tool does as you").format(
                what=what, file=path, owner=_user(st.st_uid), mode=mode, user=_user(uid)),
            _("if you trust its content, run: chown {user} {file}").format(user=_user(uid), file=quoted))
    if mode & 0o022 and not (sticky_ok and mode & stat.S_ISVTX):
        return _refuse(
            _("{what} {file} can be changed by other users (owner {owner}, mode {mode:04o})").format(
                what=what, file=path, owner=_user(st.st_uid), mode=mode),
            _("if you trust its content, run: chmod go-w {file}").format(file=quoted))
    return None


def _check_parent(path, what):
    """The directory holding path, and the one holding its target when path is a symlink, must
    not let others replace it."""
    for parent in sorted({os.path.dirname(os.path.abspath(path)), os.path.dirname(os.path.realpath(path))}):
        try:
            st = os.stat(parent)
        except OSError:
            continue
        problem = _trust_problem(st, parent, _("the directory of the {what}").format(what=what), sticky_ok=True)
        if problem is not None:
            raise problem


def _unreadable(path, what, e):
    return _refuse(_("cannot read {what} {file}: {reason}").format(what=what, file=path, reason=e.strerror),
                   _("check the path and its permissions"))


def _check_kind(st, path, what, directory=False):
    """A regular file (or a directory) that only the invoker or root can change; else exit 2."""
    if directory and not stat.S_ISDIR(st.st_mode):
        raise _refuse(_("{what} {file} is not a directory").format(what=what, file=path),
                      _("give the path of a directory"))
    if not directory and not stat.S_ISREG(st.st_mode):
        raise _refuse(_("{what} {file} is not a regular file").format(what=what, file=path),
                      _("give the path of a regular file"))
    problem = _trust_problem(st, path, what)
    if problem is not None:
        raise problem


def _open_checked(path, what, secret=False):
    """(fd, fstat) of a regular file that only the invoker or root can change; else exit 2."""
    try:
        # O_NONBLOCK: a fifo must not block the open; the fstat below refuses it anyway.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _unreadable(path, what, e) from None
    try:
        st = os.fstat(fd)
        _check_kind(st, path, what)
        mode = stat.S_IMODE(st.st_mode)
        if secret and mode & 0o077:
            raise _refuse(_("{what} {file} can be read by other users (mode {mode:04o})").format(
                what=what, file=path, mode=mode), _("run: chmod 600 {file}").format(file=shlex.quote(path)))
        _check_parent(path, what)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def check_file(path, what, secret=False):
    """A file the tool trusts but does not read itself (a private key ssh reads, known_hosts):
    a regular file, changeable only by the invoker or root (secret: readable only by them too)."""
    fd, st = _open_checked(path, what, secret)
    os.close(fd)
    return st


def read_checked(path, what, max_bytes=MAX_FILE_BYTES):
    """(bytes, fstat) of a file we trust: opened once, checked on the descriptor (a regular file,
    owned by the invoker or root, not group/world writable, nor its directory), read from that
    same descriptor, at most max_bytes (so /dev/zero, a fifo or a huge file end in exit 2)."""
    fd, st = _open_checked(path, what)
    try:
        if st.st_size > max_bytes:
            raise _refuse(_("{what} {file} is larger than {limit} bytes").format(
                what=what, file=path, limit=max_bytes), _("give the path of the right file"))
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(65536, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise _refuse(_("{what} {file} is larger than {limit} bytes").format(
                what=what, file=path, limit=max_bytes), _("give the path of the right file"))
    finally:
        os.close(fd)
    return b"".join(chunks), st


def check_dir(path, what):
    """A directory the tool takes files from ([packages] repo): a directory that only the invoker
    or root can change (no sticky-bit exception: nobody else may add files to it), in a directory
    others cannot replace it in."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _unreadable(path, what, e) from None
    _check_kind(st, path, what, directory=True)
    _check_parent(path, what)
    return st


def read_text(path, what):
    """The UTF-8 text of a checked file (read_checked), a leading byte order mark removed."""
    raw, st = read_checked(path, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise _config_error(path, _("line {n}").format(n=line),
                            _("the file is not valid UTF-8 (byte {b})").format(b=e.start)) from None
    if text.startswith("\ufeff"):  # Windows editors write one; configparser and json refuse it
        text = text[1:]
    return text, st


def _read_text(path, what):
    text, st = read_text(path, what)
    if not text.strip():
        raise _config_error(path, "", _("the file is empty"))
    return text, st


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


def check_secret_file(path, data, st):
    """A config holding a password must be 0600 (or stricter) and owned by the invoking user."""
    has_secret = "password" in data.get("ssh_config", {}) or any(
        "password" in n for n in data.get("nodes", {}).values())
    if not has_secret:
        return
    uid = os.geteuid()
    if st.st_uid != uid:
        raise DrupgradeError(
            _("{file} holds a password but is owned by uid {owner}, not by you (uid {uid})").format(
                file=path, owner=st.st_uid, uid=uid),
            code=EXIT_USAGE, hint=_("run: chown {uid} {file}").format(uid=uid, file=shlex.quote(path)))
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise DrupgradeError(
            _("{file} holds a password but can be read by others (mode {mode:04o})").format(
                file=path, mode=stat.S_IMODE(st.st_mode)),
            code=EXIT_USAGE, hint=_("run: chmod 600 {file}").format(file=shlex.quote(path)))


# -- the product's declaration and its cluster rules -----------------------------------------------
def product_names(products_dir=None):
    """The products this tool knows: the directories of products/ that hold a product.json."""
    d = products_dir or PRODUCTS_DIR
    return sorted(e for e in os.listdir(d) if os.path.isfile(os.path.join(d, e, "product.json"))) \
        if os.path.isdir(d) else []


def product_declaration(name, products_dir=None):
    """products/<name>/product.json, validated (schemas/product.json); exit 2 naming file and key."""
    path = os.path.join(products_dir or PRODUCTS_DIR, name, "product.json")
    if not os.path.isfile(path):
        raise DrupgradeError(_("unknown product {name}: {file} does not exist").format(name=name, file=path),
                             code=EXIT_USAGE, hint=_("set [product] name to one of: {names}").format(
                                 names=", ".join(product_names(products_dir)) or "-"))
    data = load_json(path, "product")
    if data["name"] != name:
        raise _config_error(path, "/name", _("bad value {value!r}: expected {name} (the directory's name)").format(
            value=data["name"], name=name))
    return data


def cluster_problems(nodes, ssh, roles):
    """What makes this set of nodes a cluster the upgrade cannot work on ([] when none): the
    product's role rules (`roles` of its product.json: min, max, needs), two nodes on one
    host:port, node names that differ only in case (they share log and state paths on a
    case-insensitive disk)."""
    problems = []
    with_role = {}
    for name, entry in sorted(nodes.items()):
        for role in entry["roles"]:
            with_role.setdefault(role, []).append(name)
    for role, rule in sorted(roles.items()):
        have, least, most = with_role.get(role, []), rule.get("min", 0), rule.get("max")
        if most is not None and len(have) > most:
            problems.append(_("{n} nodes have the role {role} ({nodes}); at most {most} may have it").format(
                n=len(have), role=role, nodes=", ".join(have), most=most))
        if len(have) < least:
            problems.append(_("{n} node(s) have the role {role}; at least {least} must have it").format(
                n=len(have), role=role, least=least))
        needs = rule.get("needs")
        if needs and have and not with_role.get(needs):
            problems.append(_("node(s) {nodes} have the role {role}, which needs a node with the role {needs}, "
                              "and no node has it").format(nodes=", ".join(have), role=role, needs=needs))
    endpoints, folded = {}, {}
    for name, entry in sorted(nodes.items()):
        port = entry.get("port", ssh.get("port", DEFAULTS["ssh_config"]["port"]))
        endpoints.setdefault((entry["host"].lower(), port), []).append(name)
        folded.setdefault(name.casefold(), []).append(name)
    for (host, port), names in sorted(endpoints.items()):
        if len(names) > 1:
            problems.append(_("nodes {nodes} have the same host and port {host}:{port}").format(
                nodes=", ".join(names), host=host, port=port))
    for names in sorted(folded.values()):
        if len(names) > 1:
            problems.append(_("node names {nodes} differ only in upper and lower case").format(nodes=", ".join(names)))
    return problems


def check_roles(path, data, product):
    """Every node's roles are roles of the product (its product.json)."""
    for name, entry in sorted(data["nodes"].items()):
        unknown = [r for r in entry["roles"] if r not in product["roles"]]
        if unknown:
            raise _config_error(path, "[node:%s] roles" % name, _(
                "bad value {value!r}: not a role of the product {product} (its roles: {known})").format(
                value=unknown[0], product=product["name"], known=", ".join(sorted(product["roles"]))))


def check_cluster(path, data, product):
    problems = cluster_problems(data["nodes"], data.get("ssh_config", {}), product["roles"])
    if problems:
        raise DrupgradeError(
            _("the nodes in {file} do not make a cluster this tool can upgrade: {problems}").format(
                file=path, problems="; ".join(problems)), code=EXIT_USAGE,
            hint=_("fix the [node:NAME] sections and run the command again; nothing was changed on any node"))


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

    @property
    def product_name(self):
        """The product this configuration upgrades ([product] name): products/<name>/."""
        return self.data["product"]["name"]

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


def check_files(cfg):
    """Every file and directory the configuration names that exists: private keys (ssh reads
    them: our message comes first), known_hosts, the package public key and repo."""
    keys = sorted({n.private_key_path for n in cfg.nodes if n.private_key_path})
    for key in keys:
        if os.path.lexists(key):
            check_file(key, _("private key"), secret=True)
    if os.path.lexists(cfg.paths["known_hosts"]):
        check_file(cfg.paths["known_hosts"], _("known_hosts file"))
    packages = cfg.section("packages")
    if packages.get("public_key") and os.path.lexists(packages["public_key"]):
        check_file(packages["public_key"], _("package public key"))
    if packages.get("repo") and os.path.lexists(packages["repo"]):
        check_dir(packages["repo"], _("package repository ([packages] repo)"))


def load(path):
    """Read, validate and check upgrade.ini; any problem is a DrupgradeError with exit 2."""
    schema = load_schema("upgrade_ini")
    text, st = _read_text(path, _("configuration file"))
    data = parse_ini(path, text, schema)
    validate(data, schema, path, key_style="ini")
    check_node_dirs(data, path)
    check_secret_file(path, data, st)
    product = product_declaration(data.get("product", {}).get("name", DEFAULT_PRODUCT))
    check_roles(path, data, product)
    check_cluster(path, data, product)
    cfg = Config(path, data)
    check_files(cfg)
    return cfg


def load_json(path, schema_name):
    """Read a JSON data file (checked like the config) and validate it against schemas/<schema_name>.json."""
    text, _st = _read_text(path, _("data file"))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _config_error(path, _("line {n}").format(n=getattr(e, "lineno", "?")),
                            _("not valid JSON: {reason}").format(reason=getattr(e, "msg", str(e)))) from None
    validate(data, load_schema(schema_name), path)
    return data
