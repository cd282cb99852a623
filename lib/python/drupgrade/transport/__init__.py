"""SSH sessions, detached runs and file transfer that survive a bad network (issue 4).

The upgrade engine uses one object, Transport:
    t = Transport.from_config(config)
    res = t.run(node, ["systemctl", "is-active", "sshd"])      # CommandResult(rc, stdout, stderr)
    res = t.detached(node, "run42-backup_db").wait(command=["/opt/drupgrade/bin/drstep", "backup_db", "run"])
    r = t.transfer.upload_package("/path/product-2.2.0.tar.gz", "/var/lib/drupgrade/packages", node)
    found = t.probe(node)                                          # ProbeResult: auth, host key, latency, scp, SFTP
    t.close()
"""
from .detached import DetachedRun, DetachedRunLost
from .failures import (
    AuthenticationFailed,
    ConnectionNotRecoverable,
    HostKeyChanged,
    HostKeyUnknown,
    RemoteDiskFull,
    RemotePermissionDenied,
    TransferFailed,
    TransportError,
)
from .policy import CONN_TYPES, Endpoint, Heartbeat, TransportSettings
from .probe import ProbeResult, probe
from .progress import Reporter
from .result import CommandResult
from .ssh import SessionPool, SshSession
from .transfer import FileTransferManager, TransferResult

__all__ = [
    "Transport", "CommandResult", "SshSession", "SessionPool", "DetachedRun", "FileTransferManager",
    "TransferResult", "TransportSettings", "Endpoint", "Heartbeat", "CONN_TYPES", "TransportError",
    "ConnectionNotRecoverable", "AuthenticationFailed", "HostKeyChanged", "HostKeyUnknown",
    "RemoteDiskFull", "RemotePermissionDenied", "TransferFailed", "DetachedRunLost", "ProbeResult",
]


class Transport(object):
    """The engine's one handle on the nodes: commands, detached steps, transfers."""

    def __init__(self, settings, live=None):
        """live: a callable that gives the live display of the command (drupgrade.view.current),
        where the transfers draw their bars; without one they log plain lines."""
        self.settings = settings
        self.pool = SessionPool(settings)
        self.transfer = FileTransferManager(settings, self.pool, Reporter(live))

    @classmethod
    def from_config(cls, config, live=None):
        return cls(TransportSettings.from_config(config), live)

    def session(self, node, conn_type="control"):
        return self.pool.session(node, conn_type)

    def run(self, node, command, conn_type="control", stdin=None, timeout=None, retry=True):
        """Run quoted words (or a built line) on node; rc 255 = ssh itself failed."""
        return self.session(node, conn_type).run(command, stdin=stdin, timeout=timeout, retry=retry)

    def probe(self, node):
        """How this controller reaches node (ProbeResult): auth, host key, latency, scp, SFTP.
        Read-only: nothing is written on the node."""
        return probe(self, node)

    def detached(self, node, run_id, conn_type="control"):
        """The detached run run_id on node: wait(command=…) starts it once (its own session,
        pid/rc/log files) and follows it, re-attaching after lost connections; for the same run_id
        again (e.g. after a controller crash) it attaches to the existing run, never starts it twice."""
        return DetachedRun(self.session(node, conn_type), run_id, self.settings.node_run_dir)

    def close(self):
        self.transfer.close()
        self.pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
