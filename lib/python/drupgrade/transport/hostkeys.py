"""Host keys: a tool-owned known_hosts and the policies accept-new, strict, insecure (S1)."""
import base64
import hashlib
import logging
import os
import re
import subprocess

from drupgrade.i18n import _

from . import failures
from .quoting import check_host

log = logging.getLogger("drupgrade.transport")

POLICIES = ("accept-new", "strict", "insecure")
_warned_insecure = set()
_OFFERED_RE = re.compile(
    r"The fingerprint for the (\S+) key sent by the remote host is\s*\r?\n?\s*(SHA256:[A-Za-z0-9+/=]+)")


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
    return {"StrictHostKeyChecking": "accept-new" if policy == "accept-new" else "yes",
            "UserKnownHostsFile": known_hosts, "GlobalKnownHostsFile": "/dev/null",
            "HashKnownHosts": "no", "CheckHostIP": "no", "UpdateHostKeys": "no"}


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
    return "bin/upgrade.sh nodes --accept-new-key %s" % node_name


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


def accept_new_key(endpoint, known_hosts):
    """Deliberately replace the recorded key of a node by what it offers now.

    Returns [(key_type, fingerprint)] now recorded."""
    ensure_file(known_hosts)
    lines = scan(endpoint.host, endpoint.port)
    if not lines:
        raise failures.TransportError(_("node {node} ({host}) offered no host key").format(
            node=endpoint.name, host=endpoint.host), node=endpoint.name)
    forget(known_hosts, endpoint.host, endpoint.port)
    with open(known_hosts, "a") as f:
        for ln in lines:
            parts = ln.split()
            f.write("%s %s %s\n" % (host_pattern(endpoint.host, endpoint.port), parts[1], parts[2]))
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
    with open(known_hosts, "a") as f:
        f.write("%s %s %s\n" % (host_pattern(endpoint.host, endpoint.port), key.get_name(), key.get_base64()))
    log.info(_("learned host key of node {node}: {fingerprint}").format(node=endpoint.name, fingerprint=offered))


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
