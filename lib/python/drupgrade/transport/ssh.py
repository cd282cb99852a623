"""Native ssh sessions: one multiplexed master per node and connection type, keepalives
per type (§4.6.1), reconnect with exponential backoff, password through a pty (T2/T3).

A master is a foreground `ssh -M -N` process owned by this controller, on a pty we hold
(it dies with the controller: the pty hangs up). Commands,
scp and detached-run attachments go through its ControlPath and cost no handshake.
"""
import fcntl
import hashlib
import logging
import os
import pty
import re
import signal
import subprocess
import termios
import threading
import time

from drupgrade.i18n import _

from . import failures, hostkeys
from .detached import GateOpener
from .policy import Endpoint, backoff, keepalive_options, preferred_cipher
from .quoting import check_host, check_user, command_line
from .result import CommandResult

try:  # pragma: no cover - typing only
    from typing import Dict, List, Optional  # noqa: F401
except ImportError:  # pragma: no cover
    pass

log = logging.getLogger("drupgrade.transport")

AUTH_TRIES = 3  # §4.1.4: authentication failure -> 3 tries, no fallback
# OpenSSH's own password prompts: "user@host's password: " (password auth), "(user@host) Password: "
# and "Password: " (keyboard-interactive, PAM's wording). Matched only as the whole last line of
# what ssh wrote: at the end of the text, after its start or a newline (and any carriage returns).
PROMPT_RE = re.compile(rb"(?:\A|\n)\r*(?:\S+@\S+'s password|(?:\(\S+@\S+\) )?Password): ?\Z")


def is_password_prompt(seen):
    """True when what ssh wrote so far ends with its password prompt: the last, unfinished line is
    the prompt itself. A banner, a PAM message or any line that merely contains "password:" is not
    (typed there, the password would be flushed by ssh's prompt and then look refused)."""
    return bool(PROMPT_RE.search(seen))


def _child_env():
    """Environment for ssh/scp children: ours minus anything that could drive askpass."""
    env = dict(os.environ)
    for k in ("SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY"):
        env.pop(k, None)
    env["LC_ALL"] = "C"
    return env


def _own_terminal():  # pragma: no cover - runs in the child
    """A new session whose controlling terminal is the pty on stdout: ssh asks for the
    password there and gets SIGHUP when our end closes; scp draws its meter only as the
    foreground process group of its terminal. SIGHUP back to its default first: a controller
    started under nohup (or by a non-interactive shell's `&`) passes it on ignored, and ssh keeps
    an ignored SIGHUP ignored, so a master would outlive a controller that died."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    os.setsid()
    fcntl.ioctl(1, termios.TIOCSCTTY, 0)


class SshArgs(object):
    """Builds every ssh and scp argv for one endpoint and connection type."""

    def __init__(self, endpoint, settings, conn_type, compress=False):
        self.endpoint = endpoint
        self.settings = settings
        self.conn_type = conn_type
        self.compress = compress
        check_host(endpoint.host)
        check_user(endpoint.username)
        key = "|".join([endpoint.name, endpoint.host, str(endpoint.port), endpoint.username, conn_type,
                        "z" if compress else ""])
        self.control_path = os.path.join(settings.control_dir, hashlib.sha256(key.encode()).hexdigest()[:20])

    def options(self, master):
        # type: (bool) -> Dict[str, str]
        ep, st = self.endpoint, self.settings
        opts = {
            "User": ep.username,
            "Port": str(ep.port),
            "ConnectTimeout": str(st.connect_timeout),
            "Compression": "yes" if self.compress else "no",  # T6: only where it helps
            "LogLevel": "ERROR",
            "ControlPath": self.control_path,
            "ControlMaster": "yes" if master else "no",
            "BatchMode": "yes",
            "ForwardAgent": "no",
            "ForwardX11": "no",
            "ClearAllForwardings": "yes",
        }
        opts.update(keepalive_options(st.heartbeat(self.conn_type)))
        opts.update(hostkeys.ssh_options(ep, st.known_hosts))
        if ep.auth_method == "key":
            opts.update({"IdentityFile": ep.private_key_path, "IdentitiesOnly": "yes",
                         "PreferredAuthentications": "publickey", "PasswordAuthentication": "no"})
        elif master:
            opts.update({"BatchMode": "no", "PubkeyAuthentication": "no", "NumberOfPasswordPrompts": "1",
                         "PreferredAuthentications": "password,keyboard-interactive"})
        if master and self.conn_type == "transfer":
            cipher = preferred_cipher(st.cipher)
            if cipher:
                # '^' puts ours first and keeps the defaults: a node without it still connects.
                opts["Ciphers"] = ("^" + cipher) if st.cipher in (None, "", "auto") else cipher
        return opts

    @staticmethod
    def _flat(opts):
        argv = ["-F", "/dev/null"]
        for k in sorted(opts):
            argv += ["-o", "%s=%s" % (k, opts[k])]
        return argv

    def master_argv(self):
        return ["ssh"] + self._flat(self.options(master=True)) + ["-N", "--", self.endpoint.host]

    def ssh_argv(self, command=None, tty=False):
        argv = ["ssh"] + self._flat(self.options(master=False))
        argv.append("-tt" if tty else "-T")
        argv += ["--", self.endpoint.host]
        if command is not None:
            argv.append(command_line(command))
        return argv

    def ctl_argv(self, op):
        return ["ssh", "-F", "/dev/null", "-o", "ControlPath=" + self.control_path, "-O", op, "--",
                self.endpoint.host]

    def scp_argv(self, sources, target, recursive=False, preserve=False):
        argv = ["scp"] + self._flat(self.options(master=False))
        if recursive:
            argv.append("-r")
        if preserve:
            argv.append("-p")
        return argv + ["--"] + list(sources) + [target]

    def remote(self, path):
        """host:path for scp (an IPv6 host in brackets)."""
        host = self.endpoint.host
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
        return "%s:%s" % (host, path)


class _Drain(object):
    """Reads and drops a child's output in a thread (a full pipe or pty would block the master)."""

    def __init__(self, read):
        self._read = read
        self.done = threading.Event()
        t = threading.Thread(target=self._run, name="ssh-drain")
        t.daemon = True
        t.start()

    def _run(self):
        try:
            while True:
                if not self._read():
                    break
        except Exception as e:  # noqa: BLE001 - EOF/EIO/closed: the child is gone
            log.debug("ssh output closed: %s", type(e).__name__)
        finally:
            self.done.set()


class Master(object):
    """One `ssh -M -N` process for an endpoint and connection type."""

    def __init__(self, args):
        # type: (SshArgs) -> None
        self.args = args
        self.proc = None  # subprocess.Popen
        self.drain = None
        self._pty = None  # our end of a password master's terminal

    def alive(self, confirm=False):
        """Is the master up? confirm: also ask it (`ssh -O check`), for failure paths: a master
        that is dying still has a pid and a socket file for a moment."""
        if self.proc is None:
            return False
        if not (self.proc.poll() is None and os.path.exists(self.args.control_path)):
            return False
        if confirm:
            return subprocess.run(self.args.ctl_argv("check"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=_child_env()).returncode == 0
        return True

    def start(self):
        """Start and authenticate the master; raise a classified TransportError on failure."""
        self.stop()
        ep = self.args.endpoint
        if os.path.exists(self.args.control_path):
            os.unlink(self.args.control_path)  # a stale socket of a dead master
        argv = self.args.master_argv()
        deadline = time.time() + self.args.settings.connect_timeout + 15
        before = hostkeys.recorded_before(ep, self.args.settings.known_hosts)
        self._start_in_pty(argv, deadline, ep.password if ep.auth_method == "password" else None)
        if not self.alive():
            self.stop()
            raise _Network(_("no answer within {seconds} s").format(seconds=self.args.settings.connect_timeout))
        hostkeys.learned_since(ep, self.args.settings.known_hosts, before)
        return self

    def _start_in_pty(self, argv, deadline, password):
        """Start ssh with a pty as its controlling terminal whose master end we hold.

        Password auth: ssh asks on that terminal and we type the password at the prompt (it
        is written to the pty only: never in an argv or an environment). Every master: when
        the controller dies, the kernel closes our end and hangs the terminal up, so ssh gets
        SIGHUP and no master outlives a run. (Not PR_SET_PDEATHSIG: that fires when the
        *thread* that started the child exits, and masters are started from the engine's
        worker threads.) subprocess (fork+exec, the pty made the controlling terminal in
        preexec) rather than forkpty() (pexpect.spawn), which is unsafe and warned about (Python
        3.12+) in a multi-threaded process; pexpect drives the prompt on our end of the pty
        (fdspawn: expect, EOF/EIO, timeouts)."""
        from pexpect import EOF, TIMEOUT, fdpexpect
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~(termios.ECHO | termios.ECHONL)  # lflag: nothing typed is echoed back
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_child_env(),
                                         preexec_fn=_own_terminal)
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._pty = master
        tty = fdpexpect.fdspawn(master, maxread=4096)  # never closes the fd: stop() does
        seen, asked = [], False
        while time.time() < deadline and not os.path.exists(self.args.control_path):
            # The socket appears once ssh is in: go on within 10 ms of it.
            found = tty.expect([PROMPT_RE, EOF, TIMEOUT], timeout=0.01)
            if found == 2:
                continue
            seen.append(tty.before + (tty.after if found == 0 else b""))
            if found == 1:  # EOF or EIO: ssh exited and closed the terminal
                self.proc.wait()
                self.stop()
                return self._failed(b"".join(seen).decode("utf-8", "replace"))
            if password is not None:
                if asked:  # asked again: the password was refused
                    self.stop()
                    return self._failed("Permission denied (password)")
                tty.send(password.encode("utf-8") + b"\n")  # pexpect logs nothing: no logfile is set
                asked = True
        self.drain = _Drain(lambda: os.read(master, 4096))

    def _failed(self, text):
        self.proc = None
        ep = self.args.endpoint
        err = hostkeys.failure_from_stderr(ep, self.args.settings.known_hosts, text)
        if err is not None:
            raise err
        kind = failures.classify(text)
        if kind == failures.AUTH:
            raise _Auth(failures.last_line(text))
        raise _Network(failures.last_line(text) or _("ssh exited"))

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        fd, self._pty = self._pty, None
        if fd is not None:
            if self.drain is not None:
                self.drain.done.wait(1)  # it reads EIO now that ssh is gone
            os.close(fd)


class _Network(Exception):
    """Internal: the connection could not be made or was lost."""


class _Auth(Exception):
    """Internal: the node refused our credentials."""


class SshSession(object):
    """Commands on one node over one connection type's multiplexed master."""

    def __init__(self, node, settings, conn_type="control", compress=False):
        self.endpoint = Endpoint.of(node)
        self.settings = settings
        self.conn_type = conn_type
        self.heartbeat = settings.heartbeat(conn_type)
        self.args = SshArgs(self.endpoint, settings, conn_type, compress)
        self.master = Master(self.args)
        self._lock = threading.RLock()
        self.reconnects = 0  # over the session's life, for reports and tests
        self._was_up = False
        self._gates = None  # detached.GateOpener, made on first use (gates())
        self.closed = False  # close() was called: the command is ending, nothing reconnects
        self._clients = set()  # our live mux clients (popen, _exec): ended before the master

    @property
    def name(self):
        return self.endpoint.name

    # -- connection ------------------------------------------------------------
    def connect(self):
        """Make sure the master is up: connect, and on a network failure reconnect by policy."""
        with self._lock:
            self._refuse_closed()
            if self.master.alive():
                return self
            was_up, self._was_up = self._was_up, True
            try:
                self._start_once()
                if was_up:  # the master died since the last command: that was a reconnect
                    self.reconnects += 1
                    log.info(_("reconnected to node {node} ({conn_type})").format(
                        node=self.endpoint.name, conn_type=self.conn_type))
            except _Network as e:
                self._reconnect(str(e))
            return self

    def _start_once(self):
        ep = self.endpoint
        detail = ""
        for attempt in range(1, AUTH_TRIES + 1):
            try:
                self.master.start()
                return
            except _Auth as e:
                detail = str(e)
                log.warning(_("authentication failed on node {node} (try {n}/{tries})").format(
                    node=ep.name, n=attempt, tries=AUTH_TRIES))
                if attempt < AUTH_TRIES:
                    time.sleep(backoff(attempt, cap=5))
        raise failures.AuthenticationFailed(ep.name, ep.username, AUTH_TRIES, detail)

    def reconnect(self, reason=""):
        """Start a new master after a loss, by the type's policy (raises when exhausted)."""
        with self._lock:
            if self.master.alive(confirm=True):
                return self
            self._refuse_closed()
            self._reconnect(reason)
            return self

    def _refuse_closed(self):
        """A thread still following a step when the command ends (Ctrl-C) stops here, quietly: the
        step goes on on the node and the next command re-attaches to it."""
        if self.closed:
            raise failures.TransportError(_("the connection to node {node} was closed: the command is ending").format(
                node=self.endpoint.name), node=self.endpoint.name)

    def _reconnect(self, reason):
        hb = self.heartbeat
        ep = self.endpoint
        if hb.reconnects is None:
            raise failures.ConnectionNotRecoverable(
                ep.name, self.conn_type, 0, _("this connection type is reconnected manually"))
        last = reason
        for attempt in range(1, hb.reconnects + 1):
            delay = backoff(attempt)
            log.warning(_("connection to node {node} ({conn_type}) lost: {reason}; reconnect {n}/{limit} "
                          "in {delay} s").format(node=ep.name, conn_type=self.conn_type, reason=last or "-",
                                                 n=attempt, limit=hb.reconnects, delay=delay))
            time.sleep(delay)
            try:
                self._start_once()
                self.reconnects += 1
                log.info(_("reconnected to node {node} ({conn_type})").format(node=ep.name, conn_type=self.conn_type))
                return
            except _Network as e:
                last = str(e)
        raise failures.ConnectionNotRecoverable(ep.name, self.conn_type, hb.reconnects, last)

    def gates(self):
        """The session's one channel that opens the gates of its detached runs (GateOpener),
        made on first use and closed with the session."""
        with self._lock:
            if self._gates is None:
                self._gates = GateOpener(self)
            return self._gates

    def lost(self):
        """True when the master died (the link was cut or the node went away)."""
        return not self.master.alive(confirm=True)

    def close(self):
        with self._lock:
            self.closed = True
            if self._gates is not None:
                self._gates.close()
            for proc in list(self._clients):  # a client still attached holds the master up to its 5 s
                if proc.poll() is None:
                    proc.kill()
            self._clients.clear()
            self.master.stop()
            if os.path.exists(self.args.control_path):
                try:
                    os.unlink(self.args.control_path)
                except OSError:
                    pass

    # -- commands --------------------------------------------------------------
    # The mux clients run in sessions of their own: the terminal's Ctrl-C stops the controller's
    # waits (the steps go on, detached, on the nodes) but does not kill the clients under its
    # threads, which would report lost connections and reconnect while the command ends. close()
    # ends them, then the master.
    def popen(self, command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
        """A running mux client for `command` (quoted words or a built line): for streaming."""
        self.connect()
        proc = subprocess.Popen(self.args.ssh_argv(command), stdin=stdin, stdout=stdout, stderr=stderr,
                                env=_child_env(), start_new_session=True)
        for done in [p for p in list(self._clients) if p.poll() is not None]:
            self._clients.discard(done)
        self._clients.add(proc)
        return proc

    def run(self, command, stdin=None, timeout=None, retry=True):
        # type: (object, Optional[object], Optional[float], bool) -> CommandResult
        """Run a command (list of words, quoted here) and wait for it.

        retry: when ssh itself fails (rc 255 and the master is gone) reconnect by policy and
        run it again: only for commands that are safe to repeat (use detached runs for the rest)."""
        line = command_line(command)
        data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        rounds = 0
        while True:
            self.connect()
            res = self._exec(line, data, timeout)
            if not res.ssh_failed or not self.lost():
                return res
            rounds += 1
            if not retry or rounds > (self.heartbeat.reconnects or 0):  # a flapping link: give up
                return res
            self.reconnect(failures.last_line(res.stderr))

    def check(self, command, **kw):
        """run() that raises a TransportError unless rc is 0."""
        res = self.run(command, **kw)
        if res.rc != 0:
            raise failures.TransportError(_("command failed on node {node} (rc {rc}): {detail}").format(
                node=self.name, rc=res.rc, detail=failures.last_line(res.stderr) or command_line(command)),
                node=self.name)
        return res

    def _exec(self, line, data, timeout):
        proc = subprocess.Popen(self.args.ssh_argv(line), stdin=subprocess.PIPE if data is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_child_env(),
                                start_new_session=True)
        self._clients.add(proc)
        try:
            out, err = proc.communicate(data, timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            # Never wait for EOF after the kill: the master holds our pipe ends (fd passing)
            # for as long as the remote command runs. The remote command is not stopped.
            proc.kill()
            proc.wait()
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    f.close()
            rc = 124
            out, err = b"", (_("timed out after {seconds} s").format(seconds=timeout)).encode("utf-8")
        finally:
            self._clients.discard(proc)
        return CommandResult(self.name, line, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


class SessionPool(object):
    """One SshSession per (node, connection type); close() ends every master we started."""

    def __init__(self, settings):
        self.settings = settings
        self._sessions = {}  # type: Dict[tuple, SshSession]
        self._lock = threading.Lock()

    def session(self, node, conn_type="control", compress=False):
        ep = Endpoint.of(node)
        key = (ep.name, conn_type, bool(compress))
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = self._sessions[key] = SshSession(ep, self.settings, conn_type, compress)
            return s

    def close(self):
        """Stop every master at once (a password master takes a few tenths of a second to end)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        threads = [threading.Thread(target=s.close) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
