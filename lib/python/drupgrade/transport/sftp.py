"""The SFTP engine (paramiko): the fallback when scp is missing or keeps failing (§4.1.1).

paramiko does not notice a cut link by itself (LAB_NOTES), so it gets a socket we make
with TCP_USER_TIMEOUT and TCP keepalive set from the connection type's heartbeat. Tuned
for throughput: a large window, 255 KB pipelined write requests (what OpenSSH's
sftp-server accepts), AES-GCM first where the CPU has AES instructions.
"""
import logging
import os
import socket
import stat
import threading
import time

from drupgrade.i18n import _

from . import failures, hostkeys
from .policy import alive_count, backoff, preferred_cipher
from .quoting import HASHER, bash_c
from .result import CommandResult

log = logging.getLogger("drupgrade.transport")

WINDOW = 64 * 1024 * 1024
MAX_PACKET = 32768
REQUEST = 261120        # OpenSSH sftp-server's max write length (limits@openssh.com)
CHUNK = 4 * 1024 * 1024
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


# Hash the partial while SFTP writes it (python3 on the node), else exit 3: hash it after.
FOLLOW = r"""command -v python3 >/dev/null 2>&1 || exit 3
exec python3 -c "$3" "$1" "$2"
"""


class EngineFailure(Exception):
    """Internal: one attempt failed; kind is a failures.* class, detail the reason."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _paramiko():
    import paramiko
    return paramiko


def make_socket(host, port, heartbeat, connect_timeout):
    """A TCP socket that fails within the type's timeout when the link is cut."""
    sock = socket.create_connection((host, port), timeout=connect_timeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    interval = max(1, int(heartbeat.interval))
    for name, value in (("TCP_KEEPIDLE", interval), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", alive_count(heartbeat))):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, int(heartbeat.timeout) * 1000)
    except OSError:  # pragma: no cover - not Linux
        pass
    sock.settimeout(None)
    return sock


def load_key(path):
    pm = _paramiko()
    if hasattr(pm.PKey, "from_path"):
        return pm.PKey.from_path(path)
    last = None
    for cls in (getattr(pm, "Ed25519Key", None), getattr(pm, "ECDSAKey", None), pm.RSAKey):
        if cls is None:
            continue
        try:
            return cls.from_private_key_file(path)
        except (pm.SSHException, ValueError) as e:
            last = e
    raise pm.SSHException(str(last))


def _pump(src, dst, done, progress):
    """Copy src to dst in CHUNKs, telling progress the running total (starting at done)."""
    while True:
        data = src.read(CHUNK)
        if not data:
            return done
        dst.write(data)
        done += len(data)
        progress.advance_to(done)


def _kind_of(exc):
    pm = _paramiko()
    if isinstance(exc, pm.AuthenticationException):
        return failures.AUTH
    if isinstance(exc, (EOFError, socket.timeout, ConnectionError, pm.SSHException)):
        return failures.NETWORK
    if isinstance(exc, (IOError, OSError)):
        errno_ = getattr(exc, "errno", None)
        text = str(exc)
        if errno_ == 28 or "No space" in text:
            return failures.DISK_FULL
        if errno_ in (1, 13) or "Permission denied" in text:
            return failures.PERMISSION
        if errno_ in (32, 104, 110, 113):
            return failures.NETWORK
        return failures.classify(text)
    return failures.OTHER


class SftpEngine(object):
    """One paramiko SFTP connection to one node (connection type 'transfer')."""

    name = "sftp"

    def __init__(self, endpoint, settings, conn_type="transfer", compress=False):
        self.endpoint = endpoint
        self.settings = settings
        self.conn_type = conn_type
        self.heartbeat = settings.heartbeat(conn_type)
        self.compress = compress
        self.transport = None
        self.sftp = None
        self._lock = threading.RLock()

    # -- connection ------------------------------------------------------------
    def _connect_once(self):
        pm = _paramiko()
        ep, st = self.endpoint, self.settings
        sock = make_socket(ep.host, ep.port, self.heartbeat, st.connect_timeout)
        t = pm.Transport(sock, default_window_size=WINDOW, default_max_packet_size=MAX_PACKET)
        opts = t.get_security_options()
        cipher = preferred_cipher(st.cipher)
        if cipher and cipher in opts.ciphers:
            opts.ciphers = (cipher,) + tuple(c for c in opts.ciphers if c != cipher)
        if ep.host_key_policy != "insecure":
            known = [a for a in hostkeys.paramiko_key_types(st.known_hosts, ep.host, ep.port) if a in opts.key_types]
            if known:
                opts.key_types = tuple(known)
        t.use_compression(bool(self.compress))
        t.set_keepalive(int(self.heartbeat.interval))
        try:
            t.start_client(timeout=st.connect_timeout)
            hostkeys.check_paramiko_key(ep, st.known_hosts, t.get_remote_server_key())
            if ep.auth_method == "key":
                t.auth_publickey(ep.username, load_key(ep.private_key_path))
            else:
                t.auth_password(ep.username, ep.password or "")
            sftp = pm.SFTPClient.from_transport(t, window_size=WINDOW, max_packet_size=MAX_PACKET)
        except Exception:
            t.close()
            raise
        self.transport, self.sftp = t, sftp

    def connect(self):
        with self._lock:
            if self.transport is not None and self.transport.is_active():
                return self
            detail = ""
            for attempt in range(1, 4):  # §4.1.4: auth failure -> 3 tries
                try:
                    self._connect_once()
                    return self
                except failures.TransportError:
                    raise
                except Exception as e:  # noqa: BLE001 - classified below
                    kind = _kind_of(e)
                    if kind != failures.AUTH:
                        raise EngineFailure(failures.NETWORK if kind in (failures.OTHER, failures.NETWORK)
                                            else kind, str(e) or type(e).__name__) from e
                    detail = str(e)
                    log.warning(_("authentication failed on node {node} (try {n}/{tries})").format(
                        node=self.endpoint.name, n=attempt, tries=3))
            raise failures.AuthenticationFailed(self.endpoint.name, self.endpoint.username, 3, detail)

    def lost(self):
        return self.transport is None or not self.transport.is_active()

    def reconnect(self, reason=""):
        """Reconnect by the type's policy; ConnectionNotRecoverable when it is spent."""
        self.close()
        hb = self.heartbeat
        if hb.reconnects is None:
            raise failures.ConnectionNotRecoverable(self.endpoint.name, self.conn_type, 0,
                                                    _("this connection type is reconnected manually"))
        last = reason
        for attempt in range(1, hb.reconnects + 1):
            delay = backoff(attempt)
            log.warning(_("connection to node {node} ({conn_type}) lost: {reason}; reconnect {n}/{limit} "
                          "in {delay} s").format(node=self.endpoint.name, conn_type=self.conn_type + "/sftp",
                                                 reason=last or "-", n=attempt, limit=hb.reconnects, delay=delay))
            time.sleep(delay)
            try:
                self.connect()
                return self
            except EngineFailure as e:
                last = e.detail
        raise failures.ConnectionNotRecoverable(self.endpoint.name, self.conn_type, hb.reconnects, last)

    def close(self):
        with self._lock:
            t, self.transport, self.sftp = self.transport, None, None
            if t is not None:
                t.close()

    # -- operations ------------------------------------------------------------
    def execute(self, line, stdin=None):
        """Run a shell line on the node over this connection (no native ssh needed)."""
        try:
            self.connect()
            ch = self.transport.open_session()
            ch.settimeout(float(self.heartbeat.timeout))
            ch.exec_command(line)
            if stdin:
                ch.sendall(stdin.encode("utf-8") if isinstance(stdin, str) else stdin)
            ch.shutdown_write()
            # Small outputs only (probe/verify commands): stderr is buffered while stdout is read.
            out = [ch.makefile("rb").read()]
            err = [ch.makefile_stderr("rb").read()]
            rc = ch.recv_exit_status()
            ch.close()
        except failures.TransportError:
            raise
        except EngineFailure:
            raise
        except Exception as e:  # noqa: BLE001
            raise EngineFailure(_kind_of(e), str(e) or type(e).__name__) from e
        return CommandResult(self.endpoint.name, line, rc, b"".join(out).decode("utf-8", "replace"),
                             b"".join(err).decode("utf-8", "replace"))

    def start(self, line):
        """Start a command in the background on this connection; returns a Background."""
        try:
            self.connect()
            ch = self.transport.open_session()
            ch.exec_command(line)
            ch.shutdown_write()
        except (failures.TransportError, EngineFailure):
            raise
        except Exception as e:  # noqa: BLE001
            raise EngineFailure(_kind_of(e), str(e) or type(e).__name__) from e
        return _Background(ch, self.endpoint.name, line)

    def put(self, local, remote, offset, progress):
        """Write local[offset:] to remote (appending at offset); progress.advance_to(bytes).
        Returns the node's sha256 of the whole remote file, taken while it was written
        (HASHER on an exec channel of the same connection), or None when the node could
        not hash it (no python3): the caller hashes it then."""
        hasher = None
        try:
            self.connect()
            with open(local, "rb") as f:
                f.seek(offset)
                rf = self.sftp.open(remote, "r+b" if offset else "wb")
                try:
                    hasher = self.start(bash_c(FOLLOW, remote, progress.total, HASHER))  # after the truncation
                    rf.MAX_REQUEST_SIZE = REQUEST
                    rf.set_pipelined(True)
                    if offset:
                        rf.seek(offset)
                    _pump(f, rf, offset, progress)
                    st = os.fstat(f.fileno())
                    rf.chmod(stat.S_IMODE(st.st_mode))
                finally:
                    rf.close()  # waits for every pipelined write's status
                check = getattr(rf, "_check_exception", None)
                if check is not None:
                    check()  # a failed pipelined write (e.g. disk full) is only recorded
            got = self.sftp.stat(remote).st_size
            if got != st.st_size:
                raise EngineFailure(failures.OTHER, "short write: %d of %d bytes on the node" % (got, st.st_size))
            res, hasher = hasher.result(timeout=max(60.0, float(self.heartbeat.timeout))), None
        except (failures.TransportError, EngineFailure):
            raise
        except Exception as e:  # noqa: BLE001
            raise EngineFailure(_kind_of(e), str(e) or type(e).__name__) from e
        finally:
            if hasher is not None:
                hasher.cancel()
        sha = res.stdout.strip() if res is not None and res.rc == 0 else ""
        return sha if len(sha) == 64 else None

    def get(self, remote, local, offset, progress):
        try:
            self.connect()
            with open(local, "ab" if offset else "wb") as f:
                rf = self.sftp.open(remote, "rb")
                try:
                    rf.seek(offset)
                    size = rf.stat().st_size
                    try:
                        rf.prefetch(size - offset, max_concurrent_requests=64)
                    except TypeError:  # paramiko < 2.8
                        rf.prefetch(size - offset)
                    _pump(rf, f, offset, progress)
                finally:
                    rf.close()
        except (failures.TransportError, EngineFailure):
            raise
        except Exception as e:  # noqa: BLE001
            raise EngineFailure(_kind_of(e), str(e) or type(e).__name__) from e

    def put_tree(self, local_dir, remote_dir, progress):
        """Copy a directory tree (modes kept) to remote_dir, which must not exist."""
        try:
            self.connect()
            done = 0
            for root, _dirs, files in os.walk(local_dir):
                rel = os.path.relpath(root, local_dir)
                target = remote_dir if rel == "." else remote_dir + "/" + rel.replace(os.sep, "/")
                self.sftp.mkdir(target, stat.S_IMODE(os.stat(root).st_mode))
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if os.path.islink(path):
                        self.sftp.symlink(os.readlink(path), target + "/" + name)
                        continue
                    rf = self.sftp.open(target + "/" + name, "wb")
                    try:
                        rf.MAX_REQUEST_SIZE = REQUEST
                        rf.set_pipelined(True)
                        with open(path, "rb") as f:
                            done = _pump(f, rf, done, progress)
                        rf.chmod(stat.S_IMODE(os.stat(path).st_mode))
                    finally:
                        rf.close()
        except (failures.TransportError, EngineFailure):
            raise
        except Exception as e:  # noqa: BLE001
            raise EngineFailure(_kind_of(e), str(e) or type(e).__name__) from e


class _Background(object):
    """A command running on a paramiko channel beside a transfer."""

    def __init__(self, channel, node, line):
        self.channel = channel
        self.node = node
        self.line = line

    def result(self, timeout):
        self.channel.settimeout(timeout)
        try:
            out = self.channel.makefile("rb").read()
            err = self.channel.makefile_stderr("rb").read()
            rc = self.channel.recv_exit_status()
        except (socket.timeout, OSError, EOFError):
            return None
        finally:
            self.cancel()
        return CommandResult(self.node, self.line, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def cancel(self):
        try:
            self.channel.close()
        except Exception as e:  # noqa: BLE001 - a dead transport: nothing left to close
            log.debug("closing the follower channel: %s", type(e).__name__)
