"""Relay distribution: a large file crosses the control node's link once, not once per node.

The controller uploads the file to one node of the site (the relay: the first node, or the next
one that takes it), and the relay sends it on to the other nodes in parallel. The relay's trust in
the other nodes lasts for one distribution only:
- a fresh ed25519 key pair per distribution; the private key only on the relay (0600, in a marked
  dir under node_run_dir), the public key in the other nodes' authorized_keys with the marker
  `drupgrade-relay:RUN`, `from="<relay address>"`, `restrict` and `expiry-time` (a crashed run's
  key stops working by itself);
- the relay checks the other nodes' host keys against the lines the controller trusts (its
  known_hosts), StrictHostKeyChecking=yes;
- removed at the end of the distribution, and every marked line on a node whenever a command
  takes the node lock (remove_stale_keys: resume, retry, rollback, the next run).
Every node's copy is checked by sha256 on that node before it is moved into place; a node the relay
could not serve gets the file straight from the controller, the reason logged (docs/transport.md).
"""
import concurrent.futures
import datetime
import ipaddress
import logging
import os
import time

from drupgrade.i18n import N_, _

from . import failures, hostkeys, owned, quoting
from .policy import Endpoint
from .result import CommandResult
from .transfer import FINALIZE, PROBE, TransferResult

log = logging.getLogger("drupgrade.transport")

MODES = ("auto", "relay", "direct")
AUTO_MIN_BYTES = 32 * 1024 * 1024  # auto relays files from this size on (smaller: set-up costs more)
MARK = "drupgrade-relay"
# What the relay did for a node, in the operator's language.
ACTIONS = {"uploaded": N_("sent"), "resumed": N_("resumed from its partial file"),
           "skipped": N_("already there with the same sha256")}
KEY_LIFETIME = 2 * 3600  # seconds: expiry-time of a run key (the step's own timeout is 3600 s)

# authorized_keys of the login user: every marked line dropped, then the line on stdin added (if
# any). The file keeps its inode and mode.
KEYS = r"""set -eu
f=$HOME/.ssh/authorized_keys
mkdir -p -m 700 -- "$HOME/.ssh"
[ -f "$f" ] || { umask 077; : > "$f"; }
line=$(cat)
if grep -q " MARK:" "$f"; then
  tmp=$(mktemp "$f.XXXXXX")
  grep -v " MARK:" "$f" > "$tmp" || true
  cat -- "$tmp" > "$f"
  rm -f -- "$tmp"
fi
if [ -n "$line" ]; then printf '%s\n' "$line" >> "$f"; fi
""".replace("MARK", MARK)

# On the relay: the run's key dir ($1, marked as drupgrade's, 0700) with the private key from
# stdin (0600) and the known_hosts lines ($2); prints the address the relay talks from.
SETUP = owned.script(r"""set -eu
d=$1
owned::remove "$d"
(umask 077; mkdir -p -- "$d")
owned::mark "$d" "created_by=drupgrade relay distribution"
(umask 077; cat > "$d/id"; printf '%s' "$2" > "$d/known_hosts")
echo "from=${SSH_CONNECTION:+$(echo "$SSH_CONNECTION" | cut -d' ' -f3)}"
""")

# The relay's key dir removed (only when drupgrade created it).
TEARDOWN = owned.script('set -u\nowned::remove "$1"\n')

# On the relay: send $2 (sha256 $3, size $4) to every target, at most $5 at once. $6-$8 are the
# remote commands run on a target (probe, append to the partial, verify and move into place),
# then name, host, port, user of each target. One result line per target:
#   drupgrade-relay NAME uploaded|resumed|skipped BYTES   or   drupgrade-relay NAME failed REASON
SEND = r"""set -u
kd=$1 file=$2 want=$3 size=$4 width=$5 probe=$6 recv=$7 fin=$8
shift 8
one() {
  local name=$1 host=$2 port=$3 user=$4 info sha off action err=$kd/err.$1 rc
  local o=(-i "$kd/id" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
           -o UserKnownHostsFile="$kd/known_hosts" -o GlobalKnownHostsFile=/dev/null -o HashKnownHosts=no
           -o UpdateHostKeys=no -o ConnectTimeout=15 -o ServerAliveInterval=5 -o ServerAliveCountMax=3
           -o LogLevel=ERROR -o Compression=no -p "$port" -l "$user" -- "$host")
  for try in 1 2; do
    if ! info=$(ssh "${o[@]}" "$probe" 2>"$err"); then
      echo "drupgrade-relay $name failed $(tail -n 1 "$err")"; return
    fi
    sha=$(echo "$info" | tr ' ' '\n' | sed -n 's/^sha=//p')
    off=$(echo "$info" | tr ' ' '\n' | sed -n 's/^part=//p')
    if [ "$sha" = "$want" ]; then echo "drupgrade-relay $name skipped 0"; return; fi
    [ "${off:-0}" -le "$size" ] 2>/dev/null || off=0
    action=uploaded; [ "${off:-0}" -gt 0 ] && action=resumed
    if ! tail -c +$((off + 1)) -- "$file" | ssh "${o[@]}" "$recv" 2>"$err"; then
      echo "drupgrade-relay $name failed $(tail -n 1 "$err")"; return
    fi
    ssh "${o[@]}" "$fin" 2>"$err"; rc=$?
    if [ "$rc" = 0 ]; then echo "drupgrade-relay $name $action $((size - off))"; return; fi
    # a partial that did not verify is gone now (FINALIZE removes it): once more from byte 0
    if [ "$rc" != 20 ] || [ "$off" = 0 ]; then
      echo "drupgrade-relay $name failed $(tail -n 1 "$err")"; return
    fi
  done
}
while [ $# -ge 4 ]; do
  while [ "$(jobs -rp | wc -l)" -ge "$width" ]; do wait -n || true; done
  one "$1" "$2" "$3" "$4" &
  shift 4
done
wait
"""


def use_relay(mode, count, size):
    """Whether count nodes get a file of size bytes through a relay: never for one node; `relay`
    always from two; `auto` from two nodes and AUTO_MIN_BYTES (a smaller file costs less than the
    key set-up's round trips, about a second); `direct` never."""
    if count < 2 or mode == "direct":
        return False
    return mode == "relay" or size >= AUTO_MIN_BYTES


def expiry(now, seconds=KEY_LIFETIME):
    """OpenSSH's expiry-time of a key valid for `seconds` from now (UTC, minute precision)."""
    return (now + datetime.timedelta(seconds=seconds + 60)).strftime("%Y%m%d%H%MZ")


def key_line(public_key, sources, run_id, expires):
    """The authorized_keys line of the run key: only from the relay's addresses, no pty nor
    forwarding, void after `expires`; the comment is the marker that finds it again."""
    check_run_id(run_id)
    for s in sources:
        quoting.check_host(s)
    return 'expiry-time="%s",from="%s",restrict %s %s:%s' % (expires, ",".join(sources), public_key, MARK, run_id)


def check_run_id(run_id):
    if not run_id or not all(c.isalnum() or c in "-_." for c in run_id):
        raise quoting.UnsafeValue("run id %r" % (run_id,))
    return run_id


def new_key_pair():
    """(OpenSSH private key text, public key "ssh-ed25519 AAAA…"): fresh for one distribution."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode("ascii")
    return private, public


def known_host_lines(known_hosts, endpoint):
    """The controller's known_hosts lines for the node: what the relay checks its host key against."""
    pattern = hostkeys.host_pattern(endpoint.host, endpoint.port)
    lines = []
    try:
        with open(known_hosts, encoding="utf-8") as f:
            for line in f:
                words = line.split()
                if len(words) >= 3 and not line.startswith(("#", "@")) and pattern in words[0].split(","):
                    lines.append("%s %s %s" % (pattern, words[1], words[2]))
    except FileNotFoundError:
        pass
    return lines


def parse_results(text):
    """{name: (status, detail)} from the relay's result lines."""
    out = {}
    for line in (text or "").splitlines():
        words = line.split(" ", 3)
        if len(words) >= 3 and words[0] == MARK:
            out[words[1]] = (words[2], words[3] if len(words) > 3 else "")
    return out


def remove_keys(transport, node):
    """Every run key on node removed: a CommandResult."""
    return transport.run(node, quoting.bash_c(KEYS), stdin=b"", retry=True)


def remove_stale_keys(transport, nodes, width):
    """Marked run keys left by a run that did not end cleanly, removed from nodes (a command that
    holds the node lock: no distribution is under way there). A failure is logged, never raised:
    the keys expire by themselves."""
    def one(node):
        try:
            res = remove_keys(transport, node)
            if res.rc != 0:
                log.debug("%s: relay key removal: %s", node.name, res.stderr.strip()[-300:])
        except failures.TransportError as e:
            log.debug("%s: relay key removal: %s", node.name, e)
    _each(one, nodes, width)


def _each(fn, items, width):
    items = list(items)
    if not items:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(width, len(items)))) as pool:
        futures = [pool.submit(fn, i) for i in items]
    return [f.result() for f in futures]


class Distribution(object):
    """One file to many nodes through a relay (run), with direct upload for what the relay could
    not serve. results: {node name: TransferResult or the TransportError/DrupgradeError it ended with}."""

    def __init__(self, transport, local_path, remote_dir, nodes, run_id, width, clock=time.time):
        self.t = transport
        self.local = local_path
        self.remote = remote_dir.rstrip("/") + "/" + os.path.basename(local_path)
        self.remote_dir = remote_dir
        self.nodes = list(nodes)
        self.run_id = check_run_id(run_id)
        self.width = max(1, int(width))
        self.clock = clock
        self.relay = None  # the node that relayed
        self.results = {}
        self.pending = {n.name for n in self.nodes}  # nodes whose step has not taken its result yet (NodeOps)
        self.fallbacks = []  # (node name, reason): direct uploads instead of the relay, in order

    # -- the plan -------------------------------------------------------------------------
    def run(self):
        """Every node gets the file (or its error in results); returns results."""
        rest = self._pick_relay()
        if self.relay is not None and rest:
            self._relay_to(rest)
        return self.results

    def _direct(self, node):
        try:
            self.results[node.name] = self.t.transfer.upload_package(self.local, self.remote_dir, node)
        except Exception as e:  # noqa: BLE001 - the node's own result, raised by its step
            self.results[node.name] = e
        return self.results[node.name]

    def _pick_relay(self):
        """The first node that takes the upload from the controller is the relay; a node that does
        not is a failure of its own, and the next one is tried. The others: returned."""
        for i, node in enumerate(self.nodes):
            result = self._direct(node)
            if isinstance(result, TransferResult):
                self.relay = node
                log.info(_("{node} is the relay of {file}: it sends the file on to {count} nodes").format(
                    node=node.name, file=os.path.basename(self.local), count=len(self.nodes) - i - 1))
                return self.nodes[i + 1:]
            later = self.nodes[i + 1:]
            if later:
                log.warning(_("{node} cannot be the relay of {file} ({reason}); trying {next}").format(
                    node=node.name, file=os.path.basename(self.local), reason=_reason(result), next=later[0].name))
        return []

    def _fall_back(self, nodes, reason):
        for node in nodes:
            self.fallbacks.append((node.name, reason))
            log.warning(_("{node}: {file} is uploaded directly from the controller: {reason}").format(
                node=node.name, file=os.path.basename(self.local), reason=reason))
        _each(self._direct, nodes, self.width)

    def _relay_to(self, nodes):
        relay = self.relay
        kh = self.t.settings.known_hosts
        lines, verified = [], []
        for node in nodes:
            found = known_host_lines(kh, Endpoint.of(node))
            if found:
                lines += found
                verified.append(node)
            else:
                self._fall_back([node], _("the controller has no recorded host key of the node for the relay {relay} "
                                          "to check").format(relay=relay.name))
        if not verified:
            return
        keydir = "%s/relay-%s" % (self.t.settings.node_run_dir, self.run_id)
        private, public = new_key_pair()
        installed = []
        try:
            res = self.t.run(relay, quoting.bash_c(SETUP, keydir, "".join(ln + "\n" for ln in lines)),
                             stdin=private.encode("ascii"))
            if res.rc != 0:
                self._fall_back(verified, _("the relay {relay} could not take the run key: {detail}").format(
                    relay=relay.name, detail=_detail(res)))
                return
            sources = relay_sources(relay, res.stdout)
            now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
            line = key_line(public, sources, self.run_id, expiry(now))
            installed, refused = self._install(verified, line)
            for node, why in refused:
                self._fall_back([node], _("the run key could not be added on the node: {detail}").format(detail=why))
            if installed:
                self._send(installed, keydir)
        finally:
            self._teardown(relay, keydir, installed)

    def _install(self, nodes, line):
        def one(node):
            try:
                res = self.t.run(node, quoting.bash_c(KEYS), stdin=(line + "\n").encode("ascii"))
            except failures.TransportError as e:
                return node, e.message
            return node, (None if res.rc == 0 else _detail(res))
        answers = _each(one, nodes, self.width)
        return [n for n, why in answers if why is None], [(n, why) for n, why in answers if why is not None]

    def _send(self, nodes, keydir):
        relay = self.relay
        size = os.path.getsize(self.local)
        sha = self.t.transfer.local_sha256(self.local)
        part = self.remote + ".part"
        words = [keydir, self.remote, sha, size, self.width,
                 quoting.bash_c(PROBE, self.remote, part, os.path.dirname(self.remote) or "/", 1),
                 quoting.bash_c('exec cat >> "$1"', part), quoting.bash_c(FINALIZE, part, self.remote, sha)]
        for node in nodes:
            ep = Endpoint.of(node)
            words += [node.name, quoting.check_host(ep.host), ep.port, quoting.check_user(ep.username)]
        t0 = self.clock()
        try:
            res = self.t.run(relay, quoting.bash_c(SEND, *words), conn_type="transfer", retry=False)
        except failures.TransportError as e:
            res = CommandResult(relay.name, "", 255, "", e.message)
        seconds = self.clock() - t0
        got = parse_results(res.stdout)
        if res.rc != 0 and not got:
            self._fall_back(nodes, _("the relay {relay} failed: {detail}").format(
                relay=relay.name, detail=_detail(res)))
            return
        missing = []
        for node in nodes:
            status, detail = got.get(node.name, ("failed", _detail(res)))
            if status in ("uploaded", "resumed", "skipped"):
                sent = int(detail or 0) if status != "skipped" else 0
                r = TransferResult(node.name, self.local, self.remote, "relay", status, size, sent, seconds, sha, [])
                r.relay = relay.name
                self.results[node.name] = r
                log.info(_("{node}: {file} {action} by the relay {relay} (sha256 checked on the node)").format(
                    node=node.name, file=os.path.basename(self.local), action=_(ACTIONS[status]), relay=relay.name))
            else:
                missing.append((node, detail))
        for node, detail in missing:
            self._fall_back([node], _("the relay {relay} could not send it: {detail}").format(
                relay=relay.name, detail=detail or _("no answer")))

    def _teardown(self, relay, keydir, nodes):
        def one(node):
            try:
                res = remove_keys(self.t, node)
                ok = res.rc == 0
            except failures.TransportError:
                ok = False
            if not ok:
                log.warning(_("{node}: the run key of the relay could not be removed now; it expires by itself "
                              "and is removed when a command next takes the node lock").format(node=node.name))
        _each(one, nodes, self.width)
        try:
            res = self.t.run(relay, quoting.bash_c(TEARDOWN, keydir))
            ok = res.rc == 0
        except failures.TransportError:
            ok = False
        if not ok:
            log.warning(_("{node}: the relay's key directory {dir} could not be removed now; the run key in it "
                          "expires by itself").format(node=relay.name, dir=keydir))


def relay_sources(relay, setup_stdout):
    """The addresses the other nodes see the relay come from: its configured address when that is
    an IP address, and the address its ssh server answered the controller on."""
    found = []
    host = Endpoint.of(relay).host
    try:
        ipaddress.ip_address(host)
        found.append(host)
    except ValueError:
        pass
    for word in (setup_stdout or "").split():
        if word.startswith("from=") and word[5:] and word[5:] not in found:
            try:
                ipaddress.ip_address(word[5:])
                found.append(word[5:])
            except ValueError:
                pass
    return found or [host]


def _reason(error):
    return getattr(error, "message", None) or str(error)


def _detail(res):
    return failures.last_line(res.stderr or res.stdout) or _("exit code {rc}").format(rc=res.rc)
