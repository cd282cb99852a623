"""SSH sessions, detached runs and file transfer that survive a bad network (issue 4).

The upgrade engine uses one object, Transport:
    t = Transport.from_config(config)
    res = t.run(node, ["systemctl", "is-active", "drp-app"])      # CommandResult(rc, stdout, stderr)
    res = t.run_detached(node, "run42-backup_db", ["/opt/drupgrade/bin/drstep", "backup_db", "run"])
    r = t.transfer.upload_package("/path/drp-2.2.0.tar.gz", "/var/lib/drupgrade/packages", node)
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

    def __init__(self, settings, console=None):
        self.settings = settings
        self.pool = SessionPool(settings)
        self.transfer = FileTransferManager(settings, self.pool, Reporter(console))

    @classmethod
    def from_config(cls, config, console=None):
        return cls(TransportSettings.from_config(config), console)

    def session(self, node, conn_type="control"):
        return self.pool.session(node, conn_type)

    def run(self, node, command, conn_type="control", stdin=None, timeout=None, retry=True):
        """Run quoted words (or a built line) on node; rc 255 = ssh itself failed."""
        return self.session(node, conn_type).run(command, stdin=stdin, timeout=timeout, retry=retry)

    def run_script(self, node, script, args=(), conn_type="control", timeout=None, retry=True):
        """Run a bash script sent on stdin, with args as $1…"""
        return self.session(node, conn_type).run_script(script, args, timeout=timeout, retry=retry)

    def probe(self, node):
        """How this controller reaches node (ProbeResult): auth, host key, latency, scp, SFTP.
        Read-only: nothing is written on the node."""
        return probe(self, node)

    def detached(self, node, run_id, conn_type="control"):
        return DetachedRun(self.session(node, conn_type), run_id, self.settings.node_run_dir)

    def run_detached(self, node, run_id, command, on_output=None, timeout=None, conn_type="control"):
        """Start run_id once on the node (its own session, pid/rc/log files) and follow it,
        re-attaching after lost connections. Calling it again for the same run_id (e.g. after
        a controller crash) attaches to the existing run instead of starting it twice."""
        run = self.detached(node, run_id, conn_type)
        run.start(command)
        return run.wait(on_output=on_output, timeout=timeout)

    def close(self):
        self.transfer.close()
        self.pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
