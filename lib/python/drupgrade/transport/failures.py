"""What went wrong: classify ssh/scp/sftp failures (§4.1.4) and the errors the operator sees."""
import re

from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import _

MISSING = "missing"            # the transfer command does not exist: fall back at once
AUTH = "auth"                  # authentication failed: no fallback, 3 tries
NETWORK = "network"            # timeout / lost link: retry (reconnect), then fall back
PERMISSION = "permission"      # no retry, say where
DISK_FULL = "disk_full"        # no retry, say where
HOSTKEY_CHANGED = "hostkey_changed"
HOSTKEY_UNKNOWN = "hostkey_unknown"
OTHER = "other"

_PATTERNS = (
    (HOSTKEY_CHANGED, r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for \S+ has changed"),
    (HOSTKEY_UNKNOWN, r"No \S+ host key is known for|Host key verification failed"),
    (AUTH, r"Permission denied \(|Too many authentication failures|Authentication failed"
           r"|AuthenticationException|Bad authentication type"),
    (DISK_FULL, r"No space left on device|Disk quota exceeded"),
    (PERMISSION, r"Permission denied|Read-only file system|Operation not permitted"),
    (NETWORK, r"Connection timed out|Connection refused|No route to host|Network is unreachable"
              r"|lost connection|Connection closed|Connection reset|Broken pipe|Timeout, server"
              r"|not responding|closed by remote host|mux_client|Could not resolve hostname"
              r"|kex_exchange_identification|Socket is closed|EOFError|timed out"),
    (MISSING, r"command not found|: not found"),
)
_COMPILED = [(kind, re.compile(rx)) for kind, rx in _PATTERNS]


def classify(text, rc=None):
    """The §4.1.4 error class of a failed ssh/scp/sftp run from its stderr text."""
    text = text or ""
    for kind, rx in _COMPILED:
        if rx.search(text):
            return kind
    if rc == 127:
        return MISSING
    return OTHER


def reason_text(kind):
    """A short translated reason for a log line or a message."""
    return {
        MISSING: _("command not found"),
        AUTH: _("authentication failed"),
        NETWORK: _("network timeout or lost connection"),
        PERMISSION: _("permission denied"),
        DISK_FULL: _("no space left on device"),
        HOSTKEY_CHANGED: _("host key changed"),
        HOSTKEY_UNKNOWN: _("host key unknown"),
    }.get(kind, _("unexpected error"))


def last_line(text):
    lines = [ln.strip() for ln in (text or "").replace("\r", "\n").split("\n") if ln.strip()]
    return lines[-1] if lines else ""


class TransportError(DrupgradeError):
    """Base of every transport failure; .node and .kind say where and what."""

    kind = OTHER

    def __init__(self, message, node=None, hint=None, code=EXIT_FAILED):
        super().__init__(message, code=code, hint=hint)
        self.node = node


class ConnectionNotRecoverable(TransportError):
    kind = NETWORK

    def __init__(self, node, conn_type, attempts, detail=""):
        msg = _("connection not recoverable: node {node}, connection type {conn_type}, "
                "{attempts} reconnect attempts failed").format(node=node, conn_type=conn_type, attempts=attempts)
        if detail:
            msg += " (" + detail + ")"
        super().__init__(msg, node=node, hint=_("check the network to the node, then run the command again; "
                                                  "the run resumes where it stopped"))
        self.conn_type = conn_type
        self.attempts = attempts


class AuthenticationFailed(TransportError):
    kind = AUTH

    def __init__(self, node, user, tries, detail=""):
        msg = _("authentication failed for {user} on node {node} after {tries} tries").format(
            user=user, node=node, tries=tries)
        if detail:
            msg += ": " + detail
        super().__init__(msg, node=node, hint=_("check username, password and private_key_path "
                                                  "in [ssh_config] or the node's section"))


class HostKeyChanged(TransportError):
    kind = HOSTKEY_CHANGED

    def __init__(self, node, host, known, offered, accept_command):
        msg = _("host key of node {node} ({host}) has changed: known {known}, offered {offered}; "
                "refusing to connect").format(node=node, host=host, known=known or "?", offered=offered or "?")
        super().__init__(msg, node=node, hint=_("if the node was reinstalled on purpose, read its new fingerprint "
                                                  "on its own console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key"
                                                  ".pub) and accept the key with: {command}").format(
            command=accept_command))
        self.known = known
        self.offered = offered


class HostKeyUnknown(TransportError):
    kind = HOSTKEY_UNKNOWN

    def __init__(self, node, host, accept_command):
        msg = _("host key of node {node} ({host}) is not known and host_key_policy is strict").format(
            node=node, host=host)
        super().__init__(msg, node=node, hint=_("read the node's fingerprint on its own console (ssh-keygen -lf "
                                                  "/etc/ssh/ssh_host_ed25519_key.pub) and record the key with: "
                                                  "{command}").format(command=accept_command))


class RemotePermissionDenied(TransportError):
    kind = PERMISSION

    def __init__(self, node, path, detail=""):
        msg = _("permission denied on node {node}: {path}").format(node=node, path=path)
        if detail:
            msg += " (" + detail + ")"
        super().__init__(msg, node=node)


class RemoteDiskFull(TransportError):
    """Not enough space before sending (needed/available known; a partial is kept), or the
    filesystem ran full while writing (partial_removed: the partial was deleted to give
    the space back)."""

    kind = DISK_FULL

    def __init__(self, node, path, needed=None, available=None, partial_removed=None):
        if needed is not None and available is not None:
            msg = _("no space left on node {node} for {path}: {needed} needed, {available} available").format(
                node=node, path=path, needed=needed, available=available)
        else:
            msg = _("disk full on node {node} while writing {path} (no space left on device)").format(
                node=node, path=path)
        hint = _("free space on the node, then run the command again")
        if partial_removed:
            hint = _("the partial file {path} was removed to give the space back to the node; free space "
                     "for the whole file, then run the command again (it is sent from the start)").format(path=path)
        super().__init__(msg, node=node, hint=hint)
        self.partial_removed = bool(partial_removed)


class TransferFailed(TransportError):
    def __init__(self, node, path, detail, kind=OTHER, partial=None):
        msg = _("transfer of {path} to/from node {node} failed: {detail}").format(path=path, node=node, detail=detail)
        hint = None
        if partial:
            hint = _("the partial file {partial} is kept; the next attempt resumes from it").format(partial=partial)
        super().__init__(msg, node=node, hint=hint)
        self.kind = kind
        self.partial = partial

