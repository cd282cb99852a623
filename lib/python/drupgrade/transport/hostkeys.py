"""Host keys: a tool-owned known_hosts and the policies accept-new, strict, insecure (S1).

accept-new trusts a node's key at first contact (logged with its fingerprint, on the ssh and
the paramiko path alike); strict with a pre-seeded known_hosts trusts nothing it was not given.
A recorded key is only ever replaced by accept_new_key(), against the fingerprint the operator
expects or after the operator confirmed the offered one on a terminal.
"""
import base64
import hashlib
import logging
import os
import re
import subprocess
import threading

from drupgrade.errors import EXIT_CONFIRM, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _

from . import failures
from .quoting import check_host

log = logging.getLogger("drupgrade.transport")

POLICIES = ("accept-new", "strict", "insecure")
_warned_insecure = set()
_OFFERED_RE = re.compile(
    r"The fingerprint for the (\S+) key sent by the remote host is\s*\r?\n?\s*(SHA256:[A-Za-z0-9+/=]+)")
FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
# The order OpenSSH prefers host key types in: the key an operator is asked about first.
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_lock = threading.Lock()
_learned = {}  # (known_hosts, host pattern) -> [(key_type, fingerprint)] learned at first contact by this run
_announced = []  # the TOFU notice is logged once per run


def host_pattern(host, port):
    """known_hosts spelling of host:port (OpenSSH and paramiko agree on it)."""
    return host if int(port) == 22 else "[%s]:%d" % (host, int(port))


def ensure_file(known_hosts):
    d = os.path.dirname(known_hosts)
    if d and not os.path.isdir(d):
        os.makedirs(d, mode=0o700, exist_ok=True)
    if not os.path.exists(known_hosts):
        fd = os.open(known_hosts, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def ssh_options(endpoint, known_hosts):
    """ssh -o options for the node's host_key_policy."""
    policy = endpoint.host_key_policy
    if policy not in POLICIES:
        raise ValueError("host_key_policy %r" % (policy,))
    if policy == "insecure":
        if endpoint.name not in _warned_insecure:
            _warned_insecure.add(endpoint.name)
            log.warning(_("host_key_policy = insecure for node {node}: host keys are not checked "
                          "(anyone on the network path can impersonate the node)").format(node=endpoint.name))
        return {"StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null",
                "GlobalKnownHostsFile": "/dev/null", "CheckHostIP": "no"}
    ensure_file(known_hosts)
    if policy == "accept-new":
        announce_first_use(known_hosts)
    return {"StrictHostKeyChecking": "accept-new" if policy == "accept-new" else "yes",
            "UserKnownHostsFile": known_hosts, "GlobalKnownHostsFile": "/dev/null",
            "HashKnownHosts": "no", "CheckHostIP": "no", "UpdateHostKeys": "no"}


def announce_first_use(known_hosts):
    """Once per run: say that accept-new trusts keys on first use, and how to pin them."""
    with _lock:
        if _announced:
            return
        _announced.append(known_hosts)
    log.info(_("host_key_policy = accept-new: a node's host key is trusted at first contact and logged "
               "with its fingerprint; to pin the keys (the production setting), pre-seed {known_hosts} and "
               "set host_key_policy = strict (docs/transport.md)").format(known_hosts=known_hosts))


def fingerprint_of_blob(blob):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def known_fingerprints(known_hosts, host, port):
    """[(key_type, 'SHA256:…')] recorded for host:port in our known_hosts."""
    out = []
    if not known_hosts or not os.path.exists(known_hosts):
        return out
    pattern = host_pattern(host, port)
    with open(known_hosts) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or line.startswith("#"):
                continue
            if pattern in parts[0].split(","):
                try:
                    out.append((parts[1], fingerprint_of_blob(base64.b64decode(parts[2]))))
                except (ValueError, TypeError):
                    continue
    return out


def offered_fingerprint(stderr):
    m = _OFFERED_RE.search(stderr or "")
    return m.group(2) if m else None


def accept_command(node_name):
    return "bin/upgrade.sh nodes --accept-new-key %s --fingerprint SHA256:..." % node_name


def check_fingerprint(text):
    """The fingerprint an operator typed ('SHA256:' and 43 base64 characters), else exit 2."""
    value = (text or "").strip()
    if not FINGERPRINT_RE.match(value):
        raise DrupgradeError(_("--fingerprint {value!r} is not a SHA256 fingerprint").format(value=text),
                             code=EXIT_USAGE, hint=_("give it as ssh-keygen -lf prints it, e.g. SHA256:"
                                                     "nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"))
    return value


def _learn(endpoint, known_hosts, keys):
    """Remember and log keys recorded at first contact (each once per run)."""
    with _lock:
        seen = _learned.setdefault((known_hosts, host_pattern(endpoint.host, endpoint.port)), [])
        fresh = [k for k in keys if k not in seen]
        seen.extend(fresh)
    for key_type, fp in fresh:
        log.info(_("learned host key of node {node}: {fingerprint}").format(
            node=endpoint.name, fingerprint="%s %s" % (key_type, fp)))


def recorded_before(endpoint, known_hosts):
    """What is recorded for the node before a connection (None when accept-new cannot learn)."""
    if endpoint.host_key_policy != "accept-new":
        return None
    return known_fingerprints(known_hosts, endpoint.host, endpoint.port)


def learned_since(endpoint, known_hosts, before):
    """After a successful ssh connection: the keys OpenSSH added to our known_hosts since `before`
    (its own notice is hidden by LogLevel=ERROR) are logged as learned at first contact."""
    if before is None:
        return
    now = known_fingerprints(known_hosts, endpoint.host, endpoint.port)
    _learn(endpoint, known_hosts, [k for k in now if k not in before])


def describe(endpoint, known_hosts, error=None):
    """How a node's host key stands, for `nodes` and `plan`, after a connection attempt (error:
    the TransportError it raised, if any). state: new (first contact: learned now, or not recorded
    under strict), recorded, changed, unchecked (insecure), None (not reached); fingerprint: the
    key now recorded ('type SHA256:…'); offered: what the node offers when it is not recorded."""
    if endpoint.host_key_policy == "insecure":
        return {"state": "unchecked", "fingerprint": None, "offered": None}
    recorded = ", ".join("%s %s" % k for k in known_fingerprints(known_hosts, endpoint.host, endpoint.port)) or None
    if isinstance(error, failures.HostKeyChanged):
        return {"state": "changed", "fingerprint": recorded, "offered": error.offered}
    if isinstance(error, failures.HostKeyUnknown):
        keys = offered_keys(endpoint)
        return {"state": "new", "fingerprint": None, "offered": "%s %s" % keys[0][:2] if keys else None}
    if error is not None:
        return {"state": None, "fingerprint": recorded, "offered": None}
    with _lock:
        learned = bool(_learned.get((known_hosts, host_pattern(endpoint.host, endpoint.port))))
    return {"state": "new" if learned else "recorded", "fingerprint": recorded, "offered": None}


def failure_from_stderr(endpoint, known_hosts, stderr):
    """The HostKey* error for an ssh failure whose stderr speaks of host keys, else None."""
    kind = failures.classify(stderr)
    if kind == failures.HOSTKEY_CHANGED:
        known = ", ".join(fp for _t, fp in known_fingerprints(known_hosts, endpoint.host, endpoint.port))
        return failures.HostKeyChanged(endpoint.name, endpoint.host, known, offered_fingerprint(stderr),
                                       accept_command(endpoint.name))
    if kind == failures.HOSTKEY_UNKNOWN:
        return failures.HostKeyUnknown(endpoint.name, endpoint.host, accept_command(endpoint.name))
    return None


def forget(known_hosts, host, port):
    """Remove host:port from our known_hosts (ssh-keygen -R)."""
    subprocess.run(["ssh-keygen", "-R", host_pattern(host, port), "-f", known_hosts],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    old = known_hosts + ".old"
    if os.path.exists(old):
        os.unlink(old)


def scan(host, port, timeout=10):
    """Host key lines offered by host:port (ssh-keyscan), as known_hosts lines."""
    check_host(host)
    p = subprocess.run(["ssh-keyscan", "-T", str(timeout), "-p", str(int(port)), "--", host],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return [ln for ln in p.stdout.splitlines() if ln.strip() and not ln.startswith("#")]


def offered_keys(endpoint):
    """[(key_type, fingerprint, base64 key)] the node offers now (ssh-keyscan), preferred type first."""
    keys = []
    for ln in scan(endpoint.host, endpoint.port):
        parts = ln.split()
        if len(parts) < 3:
            continue
        try:
            keys.append((parts[1], fingerprint_of_blob(base64.b64decode(parts[2])), parts[2]))
        except (ValueError, TypeError):
            continue
    return sorted(keys, key=lambda k: KEY_TYPES.index(k[0]) if k[0] in KEY_TYPES else len(KEY_TYPES))


def accept_new_key(endpoint, known_hosts, expected=None, confirm=None):
    """Deliberately record the host key a node offers now, in place of what was recorded for it.

    expected: the fingerprint the operator read on the node itself: the offered key with that
    fingerprint is recorded; none matches -> exit 2, both shown, nothing recorded. Without it,
    confirm(key_type, fingerprint) asks the operator about the preferred offered key (a
    terminal); without either (no terminal) -> exit 4, nothing recorded. --yes never answers
    this question. Returns [(key_type, fingerprint)] now recorded."""
    keys = offered_keys(endpoint)
    if not keys:
        raise failures.TransportError(_("node {node} ({host}) offered no host key").format(
            node=endpoint.name, host=endpoint.host), node=endpoint.name)
    offered = ", ".join("%s %s" % k[:2] for k in keys)
    if expected:
        matching = [k for k in keys if k[1] == expected]
        if not matching:
            raise DrupgradeError(
                _("node {node} ({host}) offers host key {offered}, not the fingerprint you expect ({expected}); "
                  "nothing was recorded").format(node=endpoint.name, host=endpoint.host, offered=offered,
                                                 expected=expected),
                code=EXIT_USAGE, hint=_("read the fingerprint again on the node's own console (ssh-keygen -lf "
                                        "/etc/ssh/ssh_host_ed25519_key.pub); if it differs from what the network "
                                        "offers, another host answers at {host}: do not accept it").format(
                    host=endpoint.host))
        key = matching[0]
    else:
        key = keys[0]
        question = _("node {node} ({host}) offers the host key {type} {fingerprint}").format(
            node=endpoint.name, host=endpoint.host, type=key[0], fingerprint=key[1])
        if confirm is None:
            raise DrupgradeError(
                _("confirmation needed: {question}; it is recorded only when you confirm the fingerprint").format(
                    question=question),
                code=EXIT_CONFIRM, hint=_("compare it with the node's own fingerprint (on its console: ssh-keygen -lf "
                                          "/etc/ssh/ssh_host_ed25519_key.pub), then add --fingerprint SHA256:... to "
                                          "the command; --yes does not accept host keys"))
        if not confirm(key[0], key[1]):
            raise DrupgradeError(_("the host key of node {node} was not accepted; nothing was recorded").format(
                node=endpoint.name), code=EXIT_CONFIRM)
    before = known_fingerprints(known_hosts, endpoint.host, endpoint.port)
    ensure_file(known_hosts)
    forget(known_hosts, endpoint.host, endpoint.port)
    with open(known_hosts, "a") as f:
        f.write("%s %s %s\n" % (host_pattern(endpoint.host, endpoint.port), key[0], key[2]))
    log.info(_("host key of node {node} recorded by the operator: {type} {fingerprint} (before: {before})").format(
        node=endpoint.name, type=key[0], fingerprint=key[1],
        before=", ".join("%s %s" % k for k in before) or "-"))
    return known_fingerprints(known_hosts, endpoint.host, endpoint.port)


def check_paramiko_key(endpoint, known_hosts, key):
    """Apply the node's policy to the key a paramiko Transport received (raises on refusal)."""
    if endpoint.host_key_policy == "insecure":
        ssh_options(endpoint, known_hosts)  # the warning
        return
    offered = fingerprint_of_blob(key.asbytes())
    known = known_fingerprints(known_hosts, endpoint.host, endpoint.port)
    same_type = [fp for t, fp in known if t == key.get_name()]
    if offered in same_type:
        return
    if known:
        raise failures.HostKeyChanged(endpoint.name, endpoint.host, ", ".join(fp for _t, fp in known), offered,
                                      accept_command(endpoint.name))
    if endpoint.host_key_policy == "strict":
        raise failures.HostKeyUnknown(endpoint.name, endpoint.host, accept_command(endpoint.name))
    ensure_file(known_hosts)
    announce_first_use(known_hosts)
    with open(known_hosts, "a") as f:
        f.write("%s %s %s\n" % (host_pattern(endpoint.host, endpoint.port), key.get_name(), key.get_base64()))
    _learn(endpoint, known_hosts, [(key.get_name(), offered)])


def paramiko_key_types(known_hosts, host, port):
    """Host key algorithms to offer so paramiko asks for a key type we have recorded."""
    types = [t for t, _fp in known_fingerprints(known_hosts, host, port)]
    algos = []
    for t in types:
        if t == "ssh-rsa":
            algos += ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        else:
            algos.append(t)
    return algos
