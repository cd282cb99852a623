"""drp configuration: /etc/drp/drp.ini (1.x) or /etc/drp/drp.json (2.x), one in-memory shape.

In memory the configuration is always the 2.x JSON tree (nested dicts). A 1.x program
reads and writes INI through share/config/ini-map.json; a 2.x program reads and writes
JSON. drp-config-upgrade converts between them with the same map.
"""
import configparser
import json
import os
import tempfile

from drp.version import VERSION, vtuple

ETC = os.environ.get("DRP_ETC", "/etc/drp")
INI_PATH = os.path.join(ETC, "drp.ini")
JSON_PATH = os.path.join(ETC, "drp.json")
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SHARE = os.path.join(PKG_ROOT, "share")


def uses_json(version=VERSION):
    """2.0.0 moved the configuration from INI to JSON."""
    return vtuple(version) >= (2, 0, 0)


def config_path(version=VERSION):
    return JSON_PATH if uses_json(version) else INI_PATH


def load_share_json(name):
    with open(os.path.join(SHARE, "config", name)) as f:
        data = json.load(f)
    data.pop("_comment", None)
    return data


def get_path(tree, dotted, default=None):
    cur = tree
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def set_path(tree, dotted, value):
    parts = dotted.split(".")
    cur = tree
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def has_path(tree, dotted):
    marker = object()
    return get_path(tree, dotted, marker) is not marker


def _convert(value, kind):
    if kind == "int":
        return int(value)
    if kind == "list":
        return [v.strip() for v in value.split(",") if v.strip()]
    if kind == "bool":
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value


def _ini_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def ini_to_tree(path=INI_PATH):
    """Read a 1.x drp.ini into the JSON tree, keeping every value (unknown keys too)."""
    cp = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        cp.read_file(f)
    mapping = load_share_json("ini-map.json")
    tree = {}
    for section in cp.sections():
        for key, value in cp.items(section):
            target = mapping.get("%s.%s" % (section, key))
            if target:
                set_path(tree, target[0], _convert(value, target[1]))
            else:
                set_path(tree, "%s.%s" % (section, key), value)
    return tree


def tree_to_ini(tree):
    """Render the JSON tree as 1.x INI text (inverse of ini_to_tree for mapped keys)."""
    mapping = load_share_json("ini-map.json")
    cp = configparser.ConfigParser(interpolation=None)
    done = set()
    for ini_key in sorted(mapping):
        json_path = mapping[ini_key][0]
        if has_path(tree, json_path):
            section, key = ini_key.split(".", 1)
            if not cp.has_section(section):
                cp.add_section(section)
            cp.set(section, key, _ini_value(get_path(tree, json_path)))
            done.add(json_path)

    def walk(prefix, node):
        for k in sorted(node):
            p = prefix + "." + k if prefix else k
            if isinstance(node[k], dict):
                walk(p, node[k])
            elif p not in done:
                section, key = p.split(".", 1) if "." in p else ("meta", p)
                section = section.split(".")[0]
                if not cp.has_section(section):
                    cp.add_section(section)
                cp.set(section, key.replace(".", "_"), _ini_value(node[k]))
    walk("", tree)
    out = []
    for section in cp.sections():
        out.append("[%s]" % section)
        for key, value in cp.items(section):
            out.append("%s = %s" % (key, value))
        out.append("")
    return "\n".join(out)


def atomic_write(path, text, mode=0o640, group=None):
    """temp + fsync + rename + fsync dir; keeps secrets out of a half-written file."""
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if group is not None:
            os.chown(tmp, 0, group)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _drp_gid():
    try:
        import grp
        return grp.getgrnam("drp").gr_gid
    except (KeyError, ImportError):
        return None


def load(version=VERSION):
    """The node's configuration as the JSON tree, read in this version's format."""
    if uses_json(version):
        with open(JSON_PATH) as f:
            return json.load(f)
    return ini_to_tree(INI_PATH)


def save(tree, version=VERSION):
    """Write the tree in this version's format (0640 root:drp: it holds passwords)."""
    if uses_json(version):
        text = json.dumps(tree, indent=2, sort_keys=True) + "\n"
    else:
        text = "# drp %s configuration (written by drp tools)\n" % version + tree_to_ini(tree)
    atomic_write(config_path(version), text, 0o640, _drp_gid())
