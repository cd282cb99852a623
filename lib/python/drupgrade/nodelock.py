"""The lock on every node (SPEC S6): one controller at a time per cluster, and never a second
one while the detached runs of the first still live there, even after that controller died.

On each node, beside the runs (node_run_dir):
  .holder       the holder: controller host, state dir, run id, command, pid, since, and the
                sshd process of that controller's connection (how the node tells it still lives)
  .holder.lock  flock: one claim, release or take-over at a time
  .lock         flock that every `drstep` chain or step run holds *shared* while it lives; a claim
                that replaces another holder takes it exclusively, so never while any run lives
  .lock.NAME    flock that step NAME holds while it runs (drstep: attempt N and N+1 never at once)

A command that touches nodes (upgrade run/resume/retry, rollback sessions) claims every node
first: its own earlier claim (same host, state dir and run id: a resume) is renewed; another
holder is refused (exit 5, the holder named) while its controller lives or any run lives on the
node; a holder whose controller is gone and whose runs are all gone is stale and replaced (logged).
`--take-over` stops the other holder's live runs first (DetachedRun.stop: a run at a gate is told
to stop, a running step gets SIGTERM, then SIGKILL), confirms they are gone, then takes the lock.
The lock is released when the command ends and none of its runs lives on the node; it stays
while they do (Ctrl-C, a lost link), which is what keeps a rollback off a live upgrade chain.
Read-only commands never claim, release or take over.
"""
import collections
import hashlib
import logging
import os
import re
import socket

from drupgrade import fanout, state
from drupgrade.errors import EXIT_FAILED, EXIT_LOCKED, DrupgradeError
from drupgrade.i18n import _
from drupgrade.transport import TransportError, relay
from drupgrade.transport.detached import STOP_FN, STOP_GRACE

LOG = logging.getLogger("drupgrade.nodelock")

# $1 = the runs dir, $2 = claim | takeover | release, $3 = grace seconds; our record on stdin
# (key=value lines). Prints result=claimed|replaced|taken|released|kept|held|busy, controller=
# alive|gone (the other holder's), old.FIELD= lines (the record found), live=RUN lines (runs whose
# runner lives) and stopped=RUN state=... lines (take-over).
# The runs of $dir whose runner still runs (read only: nothing is locked or changed).
LIVE_FN = r"""live_runs() {  # the runs whose runner still runs
  local r pid
  for r in "$dir"/*/; do
    r=${r%/}
    if [ ! -f "$r/pid" ] || [ -f "$r/rc" ]; then continue; fi
    { IFS= read -r pid < "$r/pid"; } 2>/dev/null || continue
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$r"; then echo "live=${r##*/}"; fi
  done
}
"""

SCRIPT = STOP_FN + LIVE_FN + r"""set -u
dir=$1 mode=$2 grace=$3
umask 077
mkdir -p -- "$dir"
mine='' old=''
IFS= read -r -d '' mine || true
mine=${mine%$'\n'}
getf() {  # REPLY = the value of key $1 in the record $2 (no fork: a claim is paid by every command)
  local line
  REPLY=
  while IFS= read -r line; do
    if [ "${line%%=*}" = "$1" ]; then REPLY=${line#*=}; return 0; fi
  done <<< "$2"
}
starttime() {  # REPLY = the start time of process $1 (field 22 of its stat), empty when it is gone
  local s
  REPLY=
  { IFS= read -r s < "/proc/$1/stat"; } 2>/dev/null || return 0
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  REPLY=${20}
}
conn() {  # the sshd process of this controller's connection: its lifetime is the controller's
  local p=$PPID s c
  while [ "$p" -gt 1 ]; do
    c=
    { IFS= read -r c < "/proc/$p/comm"; } 2>/dev/null || true
    case $c in sshd*) break ;; esac
    { IFS= read -r s < "/proc/$p/stat"; } 2>/dev/null || { p=1; break; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    p=$2
  done
  if [ "$p" -gt 1 ]; then starttime "$p"; printf 'conn_pid=%s\nconn_start=%s\n' "$p" "$REPLY"; fi
}
free() {  # no run holds the node lock; then we hold it, and our record is written under it
  if [ "$1" = 0 ]; then flock -x -n 8; else flock -x -w "$1" 8; fi
}
write() {
  { printf '%s\n' "$mine"; conn; } > "$dir/.holder.tmp" && mv -f -- "$dir/.holder.tmp" "$dir/.holder"
}
report() {
  local line
  echo "result=$1"
  echo "controller=$controller"
  case $1 in claimed | released) return 0 ;; esac
  if [ -n "$old" ]; then while IFS= read -r line; do echo "old.$line"; done <<< "$old"; fi
  live_runs
}
exec 6>> "$dir/.holder.lock"
flock -x -w 60 6 || { echo "result=busy"; echo "controller=alive"; exit 0; }
exec 8>> "$dir/.lock"
if [ -f "$dir/.holder" ]; then IFS= read -r -d '' old < "$dir/.holder" || true; old=${old%$'\n'}; fi
getf key "$mine"
key=$REPLY
getf key "$old"
ours=0
[ -z "$old" ] || [ "$REPLY" != "$key" ] || ours=1
controller=gone
if [ -n "$old" ] && [ "$ours" = 0 ]; then
  getf host "$old"; h1=$REPLY; getf host "$mine"; h2=$REPLY
  getf state_dir "$old"; s1=$REPLY; getf state_dir "$mine"; s2=$REPLY
  getf conn_pid "$old"; conn_pid=$REPLY; getf conn_start "$old"; conn_start=$REPLY
  if [ "$h1" = "$h2" ] && [ "$s1" = "$s2" ]; then
    : # the same host and state dir: we hold its run lock, so its controller is gone
  elif [ -n "$conn_pid" ] && starttime "$conn_pid" && [ -n "$REPLY" ] && [ "$REPLY" = "$conn_start" ]; then
    controller=alive
  fi
fi
if [ "$mode" = release ]; then
  if [ "$ours" = 1 ] && free 0; then rm -f -- "$dir/.holder"; report released; else report kept; fi
elif [ "$ours" = 1 ]; then
  write
  report claimed
elif [ "$controller" = gone ] && free 1; then
  write
  if [ -n "$old" ]; then report replaced; else report claimed; fi
elif [ "$mode" = takeover ]; then
  for r in "$dir"/*/; do
    r=${r%/}
    if [ ! -f "$r/pid" ] || [ -f "$r/rc" ]; then continue; fi
    out=$(drstop "$r" "$grace")
    case $out in *signal=none*) ;; *) echo "stopped=${r##*/} $out" ;; esac
  done
  if free "$grace"; then write; report taken; else report busy; fi
else
  report held
fi
"""

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _clean(value):
    """A record value on one line (the record is key=value lines)."""
    return _UNSAFE.sub("?", str(value))


def parse(text):
    """The script's answer: {'result', 'controller', 'old': {...}, 'live': [...], 'stopped': [...]}."""
    info = {"old": {}, "live": [], "stopped": []}
    for line in text.splitlines():
        key, _sep, value = line.partition("=")
        if key.startswith("old."):
            info["old"][key[4:]] = value
        elif key in ("live", "stopped"):
            info[key].append(value)
        elif key:
            info[key] = value
    return info


def describe(info):
    """Who holds a node, in the operator's words (from a parsed answer)."""
    old = info["old"]
    if not old.get("key"):
        text = _("runs of a holder that left no record")
    else:
        text = _("{command} (run {run}) of the controller on {host}, state dir {state_dir}, pid {pid}, since "
                 "{since}; that controller is {alive}").format(
            command=old.get("command", "?"), run=old.get("run_id", "?"), host=old.get("host", "?"),
            state_dir=old.get("state_dir", "?"), pid=old.get("pid", "?"), since=old.get("since", "?"),
            alive=_("still running") if info.get("controller") == "alive" else _("gone"))
    if info["live"]:
        text += _("; its runs still live there: {runs}").format(runs=", ".join(info["live"]))
    return text


def by_holder(answers):
    """`node1, node2: <holder>; node3: <other holder>`: each holder named once, after its nodes."""
    nodes = collections.OrderedDict()
    for node, info in answers:
        nodes.setdefault(describe(info), []).append(node.name)
    return "; ".join("%s: %s" % (", ".join(names), text) for text, names in nodes.items())


class NodeLock(object):
    """The node lock of one command (claim at its start, release at its end)."""

    def __init__(self, cfg, transport, state_dir, run_id, tool, command, out):
        self.cfg = cfg
        self.t = transport
        self.nodes = list(cfg.nodes)
        self.dir = transport.settings.node_run_dir
        self.tool, self.command = tool, command
        host = socket.gethostname()
        state_dir = os.path.realpath(state_dir)
        self.key = hashlib.sha256("\n".join((host, state_dir, run_id)).encode("utf-8")).hexdigest()[:32]
        self.record = [("key", self.key), ("host", host), ("state_dir", state_dir), ("run_id", run_id),
                       ("command", "%s %s" % (tool, command)), ("pid", os.getpid()), ("since", state.now_iso())]
        self.out = out
        self.claimed = []

    def _ask(self, node, mode):
        text = "".join("%s=%s\n" % (k, _clean(v)) for k, v in self.record)
        try:
            res = self.t.run(node, ["bash", "-c", SCRIPT, "drlock", self.dir, mode, str(STOP_GRACE)], stdin=text,
                             timeout=STOP_GRACE * 4 + 120)
        except TransportError as e:
            return node, None, e.message
        info = parse(res.stdout)
        if res.rc != 0 or "result" not in info:
            return node, None, (res.stderr or res.stdout).strip()[-300:] or _("exit code {rc}").format(rc=res.rc)
        return node, info, None

    def _fan_out(self, mode, nodes):
        return fanout.fan_out(self.cfg, lambda n: self._ask(n, mode), nodes)

    def claim(self, take_over=False):
        """Every node, or none: exit 5 naming the holders (or exit 1 for a node out of reach)."""
        answers = self._fan_out("takeover" if take_over else "claim", self.nodes)
        self.claimed = [n for n, info, _e in answers if info and info["result"] in ("claimed", "replaced", "taken")]
        for node, info, _error in answers:
            if info and info["result"] == "replaced":
                LOG.warning(_("node {node}: the lock of {holder} was stale (its controller is gone and none of its "
                              "runs lives there): replaced").format(node=node.name, holder=describe(info)))
            if info and info["result"] == "taken":
                self.out("warning", _("node {node}: took the lock over from {holder}").format(
                    node=node.name, holder=describe(dict(info, live=[]))))
                for line in info["stopped"]:
                    self.out("warning", _("node {node}: stopped run {run}").format(node=node.name, run=line))
        unreachable = [(n, e) for n, info, e in answers if info is None]
        held = [(n, info) for n, info, _e in answers if info and info["result"] == "held"]
        busy = [(n, info) for n, info, _e in answers if info and info["result"] == "busy"]
        if unreachable or held or busy:
            self.release()
        if unreachable:
            raise DrupgradeError(_("cannot take the node lock on: {nodes}").format(
                nodes="; ".join("%s: %s" % (n.name, e) for n, e in unreachable)), code=EXIT_FAILED,
                hint=_("check the network and the [ssh_config] of these nodes, then run the command again"))
        if busy:
            raise DrupgradeError(_("could not take the node lock over on: {nodes}").format(
                nodes=by_holder(busy)), code=EXIT_LOCKED,
                hint=_("a process still holds the node lock after SIGKILL (see the node's {dir}/.lock with "
                       "'fuser -v'); stop it, then run the command again").format(dir=self.dir))
        if held:
            raise DrupgradeError(
                _("another drupgrade run holds the node lock: {holders}").format(
                    holders=by_holder(held)),
                code=EXIT_LOCKED,
                hint=_("wait until it ends, or continue it from its own controller (its host and state dir); to "
                       "take over deliberately run 'bin/{tool} --take-over {command}': on every node it stops that "
                       "holder's live runs (a run waiting at a gate is told to stop, a running step gets SIGTERM and "
                       "{grace} s later SIGKILL), confirms they are gone, then takes the lock").format(
                    tool=self.tool, command=self.command, grace=STOP_GRACE))
        # A relay's run keys left by a run that did not end cleanly: no distribution is under way on
        # a node whose lock we hold, so every marked key goes now (drupgrade.transport.relay).
        relay.remove_stale_keys(self.t, self.claimed, fanout.width(self.cfg, len(self.claimed)))
        return self

    def release(self):
        """Give the nodes back, where none of our runs lives any more (else the lock stays ours)."""
        nodes, self.claimed = self.claimed, []
        if nodes:
            for node, info, error in self._fan_out("release", nodes):
                LOG.debug("node lock release on %s: %s", node.name, info["result"] if info else error)


LIVE = LIVE_FN + 'dir=$1\nlive_runs\n'


def live_runs(cfg, transport, nodes):
    """{node name: [run ids]} of the detached runs still alive on each node (read only: a
    reinstall of the tool directory must never pull it from under one of them)."""
    def one(node):
        res = transport.run(node, ["bash", "-c", LIVE, "drlive", transport.settings.node_run_dir], timeout=60)
        return [v for k, _s, v in (line.partition("=") for line in res.stdout.splitlines()) if k == "live"]
    return fanout.by_node(cfg, one, nodes)
