"""arc configuration: /etc/arc/arc.env, one KEY=value per line (systemd EnvironmentFile syntax;
no quoting: the value is the rest of the line; '#' starts a comment line).

The services get it as their environment (EnvironmentFile= in their units); the tools read the
file. share/config/keys.json says, per release, which keys it added (with their defaults),
renamed and removed.
"""
import collections
import json
import os
import re
import tempfile

from arc.version import VERSION, vtuple

ETC = os.environ.get("ARC_ETC", "/etc/arc")
PATH = os.path.join(ETC, "arc.env")
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SHARE = os.path.join(PKG_ROOT, "share")
LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def parse(text, where=PATH):
    """KEY=value lines -> ordered dict; a line that is neither blank, a comment nor KEY=value is an error."""
    out = collections.OrderedDict()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError("%s line %d: not KEY=value: %r" % (where, n, line[:60]))
        out[m.group(1)] = m.group(2)
    return out


def render(values, version=VERSION):
    return "# arc %s configuration (written by arc tools)\n" % version + "".join(
        "%s=%s\n" % (k, values[k]) for k in sorted(values))


def load(path=PATH):
    with open(path) as f:
        return parse(f.read(), path)


def settings():
    """What a service runs with: its environment when systemd gave it the file, else the file."""
    if os.environ.get("ARC_NODE"):
        return {k: v for k, v in os.environ.items() if k.startswith("ARC_")}
    return load()


def save(values, path=PATH, version=VERSION):
    """temp + fsync + rename, 0640 root:arc (it holds the cluster token)."""
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(render(values, version))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o640)
        gid = _arc_gid()
        if gid is not None and os.geteuid() == 0:
            os.chown(tmp, 0, gid)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _arc_gid():
    try:
        import grp
        return grp.getgrnam("arc").gr_gid
    except (KeyError, ImportError):
        return None


def keys():
    with open(os.path.join(SHARE, "config", "keys.json")) as f:
        data = json.load(f)
    data.pop("_comment", None)
    return data


def upgrade_keys(values, upto=VERSION):
    """Bring the keys up to release `upto`: every release's renames and removals in release order,
    then the keys every release added, where missing, under the name they have at `upto` (a key a
    later release removes is not added). A rename moves the value when the new key is not there;
    an old key beside its new one is dropped. Return what changed; a second call changes nothing."""
    data = keys()
    releases = sorted((r for r in data if vtuple(r) <= vtuple(upto)), key=vtuple)
    done = []
    for r in releases:
        for old, new in sorted(data[r].get("rename", {}).items()):
            if old in values:
                if new not in values:
                    values[new] = values[old]
                del values[old]
                done.append("%s -> %s" % (old, new))
        for old in data[r].get("remove", []):
            if old in values:
                del values[old]
                done.append("-" + old)
    for i, r in enumerate(releases):
        for key, value in sorted(data[r].get("defaults", {}).items()):
            for later in releases[i + 1:]:
                if key is None:
                    break
                key = None if key in data[later].get("remove", []) else data[later].get("rename", {}).get(key, key)
            if key is not None and key not in values:
                values[key] = str(value)
                done.append(key)
    return done


def catalog_path(values):
    """2.0.0 keeps the catalog in ARC_DATA_DIR (ARC_DB is gone); before, ARC_DB names it."""
    if vtuple(VERSION) >= (2, 0, 0):
        return os.path.join(values.get("ARC_DATA_DIR", "/var/lib/arc"), "catalog.db")
    return values.get("ARC_DB", "/var/lib/arc/catalog.db")


def worker_interval(values):
    """1.1.0 renamed ARC_POLL_SECONDS to ARC_WORKER_INTERVAL."""
    key = "ARC_WORKER_INTERVAL" if vtuple(VERSION) >= (1, 1, 0) else "ARC_POLL_SECONDS"
    return float(values.get(key, 5))
