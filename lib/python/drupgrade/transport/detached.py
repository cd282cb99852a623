"""Detached remote runs (T4): a command runs on the node in its own session with pid, rc
and log files; after a dropped connection the controller re-attaches to the same run
(reads the log from where it stopped, waits for the rc) and never starts it twice.

The node needs only bash, coreutils and setsid: the runner below is sent on stdin.
Run directory <run_dir>/<run_id>/: cmd (the script), pid, log (stdout+stderr), rc.
"""
import logging
import os
import re
import select
import subprocess
import threading
import time

from drupgrade.i18n import _

from . import failures
from .quoting import check_remote_path, join
from .result import SSH_FAILED, CommandResult

log = logging.getLogger("drupgrade.transport")

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")

# Launch the command in its own session; pid, log and rc files in the run dir ($d). The
# command (a script) arrives on stdin, never in an argv: it may carry the run's marker nonce
# (see `drstep chain`), and the run dir is private (umask 077). The command sees its run dir as
# $DRUPGRADE_RUN_DIR (gates of `drstep chain` live there). In a shell without job control a
# background child is no process group leader, so setsid does not fork and $! is the run's own
# pid (the pid file says the same, for later attaches); it leads the run's session (sid = pid).
# The runner outlives a SIGTERM of its session long enough to record the command's exit status.
LAUNCH = r"""cat > "$d/cmd"
: > "$d/log"
setsid bash -c 'echo $$ > "$1/pid"
  trap : TERM
  DRUPGRADE_RUN_DIR=$1 bash "$1/cmd" >> "$1/log" 2>&1 < /dev/null
  echo $? > "$1/rc.tmp"; mv -f -- "$1/rc.tmp" "$1/rc"' drrun "$d" < /dev/null > /dev/null 2>&1 &
"""

# Attach: stream the log from byte $2 until the run ends, then report rc on stderr. With $3 =
# start it first starts the run (the script on stdin) when it does not exist yet (start and
# follow in one round trip: the common case costs a single ssh command). No fork in the loops:
# each wait here is paid once per step.
ATTACH = r"""set -u
d=$1 off=$2 start=${3:-} pid=
if [ -n "$start" ]; then
  umask 077
  mkdir -p -- "${d%/*}"
  if mkdir -- "$d" 2>/dev/null; then
""" + LAUNCH + r"""    pid=$!
    echo "DRUPGRADE-STARTED" >&2
  else
    echo "DRUPGRADE-EXISTS" >&2
  fi
fi
[ -d "$d" ] || { echo "DRUPGRADE-STATE=missing" >&2; exit 3; }
if [ -z "$pid" ]; then
  for ((i = 0; i < 200; i++)); do [ -s "$d/pid" ] && break; sleep 0.01; done
  pid=$(cat -- "$d/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && { [ -f "$d/rc" ] || ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d"; }; then
    pid=
  fi
fi
if [ -n "$pid" ]; then
  tail -c "+$((off + 1))" --pid="$pid" -s 0.005 -f -- "$d/log"
  for ((i = 0; i < 200; i++)); do [ -f "$d/rc" ] && break; sleep 0.01; done
else
  tail -c "+$((off + 1))" -- "$d/log"
fi
if [ -f "$d/rc" ]; then
  echo "DRUPGRADE-RC=$(< "$d/rc")" >&2
else
  echo "DRUPGRADE-STATE=lost" >&2
fi
"""

# Open gates of runs (see `drstep chain`): each line "DIR<TAB>NAME" creates go.NAME in the run
# dir DIR (NAME = stop: the file stop), then wakes the run through its fifo (opened read-write:
# never blocks, whether or not the chain waits yet); answers "ok", or "missing" (no such run).
# Run as one long-lived ssh command per session, a gate costs a line each way.
GATE_LOOP = r"""while IFS=$'\t' read -r d name; do
  if [ -d "$d" ]; then
    file=go.$name
    [ "$name" != stop ] || file=stop
    : > "$d/$file"
    if [ -p "$d/gate" ]; then echo "$name" 1<> "$d/gate"; fi
    echo ok
  else
    echo missing
  fi
done
"""

# Stop a run for good and confirm it: the processes of its session (sid = the runner's pid,
# which also catches children that left its process group, e.g. under `timeout`). A chain
# between steps or at a gate is told to stop (the stop file, its fifo woken) and ends by itself
# within a second; else SIGTERM to every process of the session, GRACE seconds, then SIGKILL,
# until none is left. Prints state=done rc=N | lost | missing | alive, and signal=none|stop|
# term|kill (what it took). A session is taken for the run's own only while its leader runs the
# run dir's command, or a member has the run dir in its environment (never a reused pid).
# $1 = run dir, $2 = grace seconds. Also used by the node lock's take-over (drupgrade.nodelock).
STOP_FN = r"""drstop() {
  local d=$1 grace=$2 pid sig=none ours=0 p s
  if [ ! -d "$d" ]; then echo "state=missing signal=none"; return 0; fi
  pid=$(cat -- "$d/pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d"; then
      ours=1
    else
      while read -r p s; do
        if [ "$s" = "$pid" ] && grep -qzxF -- "DRUPGRADE_RUN_DIR=$d" "/proc/$p/environ" 2>/dev/null; then
          ours=1
          break
        fi
      done < <(ps -e -o pid= -o sid=)
    fi
  fi
  _drmembers() {  # the live (not zombie) processes of the run's session
    [ "$ours" = 0 ] || ps -e -o pid= -o sid= -o stat= | awk -v s="$pid" '$2 == s && $3 !~ /^Z/ { print $1 }'
  }
  _drgone() {  # up to $1 tenths of a second until the session is empty; $2: a signal sent each time
    local i m
    for ((i = 0; i <= $1; i++)); do
      m=$(_drmembers)
      [ -n "$m" ] || return 0
      # shellcheck disable=SC2086
      [ -z "$2" ] || kill "-$2" $m 2>/dev/null || true
      sleep 0.1
    done
    return 1
  }
  if [ -n "$(_drmembers)" ]; then
    sig=stop
    : > "$d/stop"
    if [ -p "$d/gate" ]; then echo stop 1<> "$d/gate"; fi
    if ! _drgone 10 ""; then
      sig=term
      # shellcheck disable=SC2046
      kill -TERM $(_drmembers) 2>/dev/null || true
      if ! _drgone "$((grace * 10))" ""; then
        sig="kill"
        _drgone 50 KILL || { echo "state=alive signal=$sig"; return 0; }
      fi
    fi
  fi
  if [ -f "$d/rc" ]; then echo "state=done rc=$(cat -- "$d/rc") signal=$sig"; else echo "state=lost signal=$sig"; fi
}
"""
STOP = STOP_FN + 'set -u\ndrstop "$1" "$2"\n'
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL


class DetachedRunLost(failures.TransportError):
    """The run's process is gone without an rc (the node rebooted or it was killed)."""


class DetachedRun(object):
    """One detached command on one node, identified by run_id (e.g. '<run>-<step>')."""

    def __init__(self, session, run_id, run_dir):
        if not _RUN_ID_RE.match(run_id or ""):
            raise ValueError("run id %r" % (run_id,))
        self.session = session
        self.run_id = run_id
        self.dir = check_remote_path(run_dir.rstrip("/") + "/" + run_id)
        self.offset = 0          # bytes of the log already delivered
        self.attaches = 0        # how many times we (re)attached
        self.started_here = None  # True: this call started it; False: it already existed

    def wait(self, on_output=None, timeout=None, command=None):
        # type: (...) -> CommandResult
        """Follow the log until the run ends; reconnect and re-attach after a lost link.

        on_output(bytes) gets every log byte exactly once. Returns the run's CommandResult
        (stdout = the log text), or one with rc 124 and `still_running` set when `timeout`
        seconds passed first (with or without output). With `command`, the run is started
        first unless it exists (start and follow in one ssh command). Raises
        ConnectionNotRecoverable when the type's reconnect budget is spent (the run goes on
        on the node; wait() again later re-attaches)."""
        deadline = None if timeout is None else time.time() + timeout
        chunks = []
        payload = None if command is None else _script(command)
        while True:
            self.attaches += 1
            argv = ["bash", "-c", ATTACH, "drattach", self.dir, str(self.offset)] + (["start"] if payload else [])
            proc = self.session.popen(argv, stdin=subprocess.PIPE if payload else subprocess.DEVNULL)
            try:
                if payload:  # the script on stdin, never in an argv (it may carry the run's marker nonce)
                    try:
                        proc.stdin.write(payload)
                        proc.stdin.close()
                    except OSError:  # ssh already gone: its exit status tells
                        pass
                err, finished = self._read(proc, deadline, chunks, on_output, starting=bool(payload))
                if finished:
                    rc = proc.wait()
                else:  # a silent run must not hold the caller past its deadline
                    proc.kill()
                    rc = proc.wait()
            finally:
                proc.stdout.close()
                proc.stderr.close()
            if payload and re.search("DRUPGRADE-(STARTED|EXISTS)", err):
                self.started_here = "DRUPGRADE-STARTED" in err
            payload = None  # started (or it existed): later attaches only follow
            m = re.search(r"DRUPGRADE-RC=(\d+)", err)
            text = b"".join(chunks).decode("utf-8", "replace")
            if m:
                return CommandResult(self.session.name, self.run_id, int(m.group(1)), text, "")
            if "DRUPGRADE-STATE=lost" in err:
                raise DetachedRunLost(_("run {run} on node {node} ended without an exit code (killed or "
                                        "node restarted)").format(run=self.run_id, node=self.session.name),
                                      node=self.session.name)
            if "DRUPGRADE-STATE=missing" in err:
                raise DetachedRunLost(_("run {run} does not exist on node {node}").format(
                    run=self.run_id, node=self.session.name), node=self.session.name)
            if not finished or (deadline and time.time() >= deadline):
                res = CommandResult(self.session.name, self.run_id, 124, text, _("still running"))
                res.still_running = True
                return res
            if rc == SSH_FAILED or self.session.lost():
                if self.session.closed:  # the command is ending (Ctrl-C): the run goes on on the node
                    self.session.reconnect()  # raises, without a word on the screen
                log.warning(_("lost the connection while following {run} on node {node} at byte {offset}; "
                              "re-attaching").format(run=self.run_id, node=self.session.name, offset=self.offset))
                self.session.reconnect(failures.last_line(err))
                continue
            raise failures.TransportError(_("following {run} on node {node} failed (rc {rc}): {detail}").format(
                run=self.run_id, node=self.session.name, rc=rc, detail=failures.last_line(err)),
                node=self.session.name)

    def _read(self, proc, deadline, chunks, on_output, starting=False):
        """Log bytes from the attach's stdout, its stderr text, until both close or the deadline.
        Selects on the pipes: with a multiplexed connection the master holds copies of them,
        so killing our client would not end a blocking read. Returns (stderr text, finished).
        `starting`: the attach also starts the run; the deadline counts only once the node said
        it did (or that it exists), so a short wait never cuts the start off half way."""
        names = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
        err = []
        while names:
            if starting and re.search(b"DRUPGRADE-(STARTED|EXISTS)", b"".join(err)):
                starting = False
            wait = None if deadline is None or starting else max(0.0, deadline - time.time())
            ready = select.select(list(names), [], [], wait)[0]
            if not ready:
                return b"".join(err).decode("utf-8", "replace"), False
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    del names[fd]
                elif names[fd] == "err":
                    err.append(data)
                else:
                    self.offset += len(data)
                    chunks.append(data)
                    if on_output:
                        on_output(data)
        return b"".join(err).decode("utf-8", "replace"), True

    def open_gate(self, name):
        """Let a gated step of the run (`drstep chain ... +NAME`) begin; `stop`: end the run
        before its next step (never in the middle of one). Safe to repeat."""
        line = "%s\t%s\n" % (self.dir, name)
        answer = self.session.gates().open(line)
        if answer is None:  # the channel failed: the same loop as a command of its own
            res = self.session.run(["bash", "-c", GATE_LOOP], stdin=line)
            answer = res.stdout.strip() if res.rc == 0 else failures.last_line(res.stderr)
        if answer == "missing":
            answer = _("run {run} does not exist on node {node}").format(run=self.run_id, node=self.session.name)
        if answer != "ok":
            raise failures.TransportError(_("could not open gate {name} of {run} on node {node}: {detail}").format(
                name=name, run=self.run_id, node=self.session.name, detail=answer), node=self.session.name)

    def stop(self, grace=STOP_GRACE):
        """End the run for good and confirm it (STOP): a chain at a gate is told to stop, else
        SIGTERM to its whole session, `grace` seconds, then SIGKILL, until no process of it is
        left. {'state': 'done'|'lost'|'missing', 'rc': int|None, 'signal': 'none'|'stop'|'term'|
        'kill'}. Raises TransportError when it cannot tell (no answer) or the run outlives SIGKILL."""
        res = self.session.run(["bash", "-c", STOP, "drstop", self.dir, str(int(grace))], timeout=grace + 60)
        info = dict(kv.split("=", 1) for kv in res.stdout.split() if "=" in kv)
        if res.rc != 0 or info.get("state") not in ("done", "lost", "missing"):
            detail = _("still running after SIGKILL") if info.get("state") == "alive" else (
                failures.last_line(res.stderr) or _("exit code {rc}").format(rc=res.rc))
            raise failures.TransportError(_("could not stop {run} on node {node}: {detail}").format(
                run=self.run_id, node=self.session.name, detail=detail), node=self.session.name)
        return {"state": info["state"], "rc": int(info["rc"]) if info.get("rc", "").isdigit() else None,
                "signal": info.get("signal", "none")}


class GateOpener(object):
    """One long-lived ssh command per session that opens gates (GATE_LOOP). When it is gone
    (a lost link) the next open starts another; open() answers None when it cannot tell, and
    the caller then opens the gate with a command of its own."""

    TIMEOUT = 30

    def __init__(self, session):
        self.session = session
        self.proc = None
        self.buf = b""
        self.lock = threading.Lock()

    def open(self, line):
        """Send one GATE_LOOP line: 'ok', 'missing' (no such run dir), or None (the channel failed)."""
        with self.lock:
            try:
                if self.proc is None or self.proc.poll() is not None:
                    self.close()
                    self.proc = self.session.popen(["bash", "-c", GATE_LOOP], stdin=subprocess.PIPE)
                self.proc.stdin.write(line.encode("utf-8"))
                self.proc.stdin.flush()
                return self._line()
            except (OSError, ValueError, failures.TransportError):
                self.close()
                return None

    def _line(self):
        deadline = time.time() + self.TIMEOUT
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            if not select.select([fd], [], [], max(0.0, deadline - time.time()))[0]:
                raise OSError("no answer from the gate channel")
            data = os.read(fd, 4096)
            if not data:
                raise OSError("the gate channel closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()

    def close(self):
        proc, self.proc, self.buf = self.proc, None, b""
        if proc is None:
            return
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _script(command):
    """The run's script as bytes: a built line as it is, a list of words quoted."""
    return (command if isinstance(command, str) else join(command)).encode("utf-8")

