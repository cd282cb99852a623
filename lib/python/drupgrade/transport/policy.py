"""Connection policy as data: keepalives and reconnects per connection type (§4.6.1),
backoff, and the settings and endpoints the transport is built from."""
import atexit
import logging
import os
import shutil
import stat
import tempfile
from collections import namedtuple

from drupgrade.errors import DrupgradeError
from drupgrade.i18n import _

log = logging.getLogger("drupgrade.transport")

CONN_TYPES = ("control", "transfer", "plugin", "status")

Heartbeat = namedtuple("Heartbeat", "conn_type interval timeout reconnects")
# reconnects None = manual: the operator reconnects (design: 状态检查连接 手动重连).

DEFAULT_HEARTBEATS = {
    "control": Heartbeat("control", 60, 180, 3),
    "transfer": Heartbeat("transfer", 30, 120, 2),
    "plugin": Heartbeat("plugin", 45, 150, 1),
    "status": Heartbeat("status", 90, 300, None),
}


def alive_count(hb):
    """ServerAliveCountMax so that interval * count covers the type's timeout."""
    return max(1, -(-int(hb.timeout) // max(1, int(hb.interval))))


def keepalive_options(hb):
    """ssh -o options for a connection type: dead link detected after about `timeout` s."""
    return {"ServerAliveInterval": str(int(hb.interval)), "ServerAliveCountMax": str(alive_count(hb))}


def backoff(attempt, cap=30):
    """Seconds to wait before reconnect attempt n (1-based): 1, 3, 7, 15, 30 (Ansible's 2**n - 1)."""
    return min(cap, 2 ** attempt - 1)


class Endpoint(object):
    """How to reach one node: from a config Node (name, host, port, username, password,
    private_key_path, host_key_policy)."""

    __slots__ = ("name", "host", "port", "username", "password", "private_key_path", "host_key_policy")

    def __init__(self, name, host, port=22, username="root", password=None, private_key_path=None,
                 host_key_policy="accept-new"):
        self.name = name
        self.host = host
        self.port = int(port or 22)
        self.username = username or "root"
        self.password = password or None
        self.private_key_path = private_key_path or None
        self.host_key_policy = host_key_policy or "accept-new"

    @classmethod
    def of(cls, node):
        if isinstance(node, cls):
            return node
        return cls(node.name, node.host, getattr(node, "port", 22), getattr(node, "username", "root"),
                   getattr(node, "password", None), getattr(node, "private_key_path", None),
                   getattr(node, "host_key_policy", "accept-new"))

    @property
    def auth_method(self):
        """'key' when a private key is configured (BatchMode), else 'password' (pty)."""
        return "key" if self.private_key_path else "password"

    def __repr__(self):  # never shows the password
        return "Endpoint(%s %s@%s:%d %s)" % (self.name, self.username, self.host, self.port, self.auth_method)


class TransportSettings(object):
    """Everything the transport reads from the configuration."""

    def __init__(self, known_hosts, heartbeats=None, method="auto", cipher="auto", retries=3,
                 connect_timeout=30, control_dir=None, secrets=(), node_tool_dir="/opt/drupgrade",
                 node_package_dir="/var/lib/drupgrade/packages", node_run_dir="/var/lib/drupgrade/runs",
                 compression="auto"):
        self.known_hosts = known_hosts
        self.heartbeats = dict(DEFAULT_HEARTBEATS)
        self.heartbeats.update(heartbeats or {})
        self.method = method or "auto"
        self.cipher = cipher or "auto"
        self.compression = compression or "auto"  # [transfer] compression: auto | never | always
        self.retries = int(retries)
        self.connect_timeout = int(connect_timeout)
        self.control_dir = control_dir or default_control_dir()
        self.secrets = [s for s in secrets if s]
        self.node_tool_dir = node_tool_dir
        self.node_package_dir = node_package_dir
        self.node_run_dir = node_run_dir

    @classmethod
    def from_config(cls, config):
        beats = {}
        for t in CONN_TYPES:
            hb = config.heartbeat(t)
            beats[t] = Heartbeat(t, int(hb["interval"]), int(hb["timeout"]),
                                 None if hb.get("reconnects") is None else int(hb["reconnects"]))
        tr = dict(getattr(config, "transfer", None) or {})
        paths = dict(getattr(config, "paths", None) or {})
        state_dir = paths.get("state_dir") or "/var/lib/drupgrade"
        return cls(
            known_hosts=paths.get("known_hosts") or os.path.join(state_dir, "known_hosts"),
            heartbeats=beats,
            method=tr.get("method", "auto"),
            cipher=tr.get("cipher", "auto"),
            compression=tr.get("compression", "auto"),
            retries=tr.get("retries", 3),
            connect_timeout=tr.get("connect_timeout", 30),
            secrets=list(getattr(config, "secrets", None) or []),
            node_tool_dir=paths.get("node_tool_dir") or "/opt/drupgrade",
            node_package_dir=paths.get("node_package_dir") or "/var/lib/drupgrade/packages",
            node_run_dir=paths.get("node_run_dir") or "/var/lib/drupgrade/runs",
        )

    def heartbeat(self, conn_type):
        return self.heartbeats[conn_type]


def private_dir_problem(path):
    """Why path is not a private directory of ours (None when it is): lstat, so a symlink is
    refused, not followed; owned by our effective uid; mode exactly 0700."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return e.strerror
    if stat.S_ISLNK(st.st_mode):
        return _("it is a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        return _("it is not a directory")
    if st.st_uid != os.geteuid():
        return _("it is owned by uid {owner}, not by uid {uid}").format(owner=st.st_uid, uid=os.geteuid())
    if stat.S_IMODE(st.st_mode) != 0o700:
        return _("its mode is {mode:04o}, not 0700").format(mode=stat.S_IMODE(st.st_mode))
    return None


def default_control_dir():
    """The control sockets' directory: short (sun_path is 108 bytes) and private, because an ssh
    mux client trusts whatever listens on the socket path. <tmp>/drupgrade-cm-<uid> when we made
    it or it passes private_dir_problem; else a fresh mkdtemp, removed at exit."""
    path = os.path.join(tempfile.gettempdir(), "drupgrade-cm-%d" % os.geteuid())
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask: ours, just made
    except OSError:
        pass  # exists (checked below) or cannot be made (mkdtemp below says why)
    why = private_dir_problem(path)  # also after our own mkdir: someone may have been quicker
    if why is None:
        return path
    fresh = tempfile.mkdtemp(prefix="drupgrade-cm-")
    atexit.register(shutil.rmtree, fresh, True)
    log.warning(_("not using {dir} for the ssh control sockets: {reason}; using {fresh} instead").format(
        dir=path, reason=why, fresh=fresh))
    again = private_dir_problem(fresh)
    if again is not None:
        raise DrupgradeError(_("cannot make a private directory for the ssh control sockets: {dir}: {reason}").format(
            dir=fresh, reason=again), hint=_("check the temporary directory (TMPDIR) and run the command again"))
    return fresh


def cpu_has_aes():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")) and " aes" in line:
                    return True
    except OSError:
        pass
    return False


def preferred_cipher(setting):
    """The cipher we put first for bulk transfer: AES-GCM where the CPU has AES instructions."""
    if setting and setting != "auto":
        return setting
    return "aes128-gcm@openssh.com" if cpu_has_aes() else None
