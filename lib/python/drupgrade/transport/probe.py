"""How the controller reaches one node (`upgrade.sh nodes`): address, auth, host key, latency, and
whether scp and SFTP work. Read-only: the scp check copies a small file every node has *from* the
node into /dev/null, the SFTP check stats "/"; nothing is written on the node, nor kept here."""
import time

from . import hostkeys
from .failures import TransportError
from .policy import Endpoint
from .progress import TransferProgress
from .quoting import UnsafeValue
from .scp import ScpEngine
from .sftp import EngineFailure, SftpEngine

PROBE_FILE = "/etc/passwd"  # readable by anyone on every Linux node
LATENCY_SAMPLES = 3
CONN = "status"  # read-only queries: one connection attempt, no automatic reconnects


class ProbeResult(object):
    """What probe() found on one node. error (and hint): the node could not be reached, or a
    check could not run; scp_error/sftp_error: why that method does not work (None: it does)."""

    FIELDS = ("node", "address", "user", "auth_method", "host_key_policy", "host_key", "host_key_state",
              "host_key_offered", "latency_ms", "scp", "scp_error", "sftp", "sftp_error", "error", "hint")

    def __init__(self, endpoint):
        for f in self.FIELDS:
            setattr(self, f, None)
        self.node = endpoint.name
        self.address = "%s:%d" % (endpoint.host, endpoint.port)
        self.user = endpoint.username
        self.auth_method = endpoint.auth_method
        self.host_key_policy = endpoint.host_key_policy

    @property
    def reachable(self):
        return self.error is None

    @property
    def transfers(self):
        """A way to copy files works (scp, else the SFTP fallback)."""
        return bool(self.scp or self.sftp)

    def as_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS}


def probe(transport, node):
    """One node's ProbeResult; never raises for the node's own faults (they are its error)."""
    ep = Endpoint.of(node)
    found = ProbeResult(ep)
    try:
        session = transport.session(node, CONN)
        try:
            session.connect()
        except TransportError as e:
            _host_key(found, ep, transport.settings.known_hosts, e)
            raise
        _host_key(found, ep, transport.settings.known_hosts, None)
        found.latency_ms = _latency_ms(session)
        found.scp, found.scp_error = _check_scp(transport.session(node, "transfer"))
        found.sftp, found.sftp_error = _check_sftp(ep, transport.settings)
    except TransportError as e:
        found.error, found.hint = e.message, e.hint
    except UnsafeValue as e:  # a host or user the configuration should not have let through
        found.error = str(e)
    return found


def _host_key(found, ep, known_hosts, error):
    """The node's host key, its state (new, recorded, changed, unchecked) and what it offers."""
    key = hostkeys.describe(ep, known_hosts, error)
    found.host_key, found.host_key_state, found.host_key_offered = key["fingerprint"], key["state"], key["offered"]


def _latency_ms(session):
    """The median of LATENCY_SAMPLES `true` over the node's multiplexed master."""
    times = []
    for _i in range(LATENCY_SAMPLES):
        t0 = time.time()
        res = session.run(["true"], retry=False)
        if res.rc != 0:
            raise TransportError(res.stderr.strip() or "rc %d" % res.rc, node=session.name)
        times.append((time.time() - t0) * 1000.0)
    times.sort()
    return round(times[len(times) // 2], 1)


def _check_scp(session):
    """(works, why not): the system scp through the node's transfer master, from the node."""
    try:
        ScpEngine(session).get(PROBE_FILE, "/dev/null", 0, TransferProgress(session.name, PROBE_FILE, 0, "scp",
                                                                             "download"))
        return True, None
    except EngineFailure as e:
        return False, e.detail


def _check_sftp(ep, settings):
    """(works, why not): paramiko's SFTP session, the fallback of every transfer."""
    eng = SftpEngine(ep, settings, CONN)
    try:
        eng.connect()
        eng.sftp.stat("/")
        return True, None
    except EngineFailure as e:
        return False, e.detail
    except TransportError as e:
        return False, e.message
    finally:
        eng.close()
