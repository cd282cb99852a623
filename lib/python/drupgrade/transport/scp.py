"""The scp engine: system scp over the node's multiplexed 'transfer' master (§4.1.2).

scp cannot start at an offset, so a resumed upload sends the rest of the file through
the same master into `cat >>` on the node, after checking the partial's size there.
scp shows its progress meter only on a tty: it gets a pty for stdout and we read the
percentages from it (§4.1.5: 解析scp命令输出的进度信息).
"""
import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading

from . import failures
from .quoting import bash_c
from .result import SSH_FAILED
from .sftp import EngineFailure
from .ssh import _child_env

_PCT_RE = re.compile(rb"(\d{1,3})%")

APPEND = r"""set -u
p=$1 off=$2
size=$(stat -c %s -- "$p" 2>/dev/null || echo -1)
[ "$size" = "$off" ] || { echo "partial size is $size, expected $off" >&2; exit 17; }
exec cat >> "$p"
"""

TAIL = r"""set -u
exec tail -c "+$(($2 + 1))" -- "$1"
"""


def _own_terminal():  # pragma: no cover - runs in the child
    """scp draws its meter only as the foreground process group of its terminal: make the
    pty on stdout the child's controlling terminal."""
    os.setsid()
    fcntl.ioctl(1, termios.TIOCSCTTY, 0)


class ScpEngine(object):
    """Transfers with the system scp through an SshSession of type 'transfer'."""

    name = "scp"

    def __init__(self, session):
        self.session = session

    @property
    def endpoint(self):
        return self.session.endpoint

    def connect(self):
        self.session.connect()
        return self

    def lost(self):
        return self.session.lost()

    def reconnect(self, reason=""):
        self.session.reconnect(reason)

    def close(self):
        pass  # the pool owns the master

    def _fail(self, rc, stderr):
        if rc == SSH_FAILED and self.session.lost() or self.session.lost():
            raise EngineFailure(failures.NETWORK, failures.last_line(stderr) or "connection lost")
        raise EngineFailure(failures.classify(stderr, rc), failures.last_line(stderr) or "rc %d" % rc)

    def execute(self, line, stdin=None):
        res = self.session.run(line, stdin=stdin, retry=False)
        if res.rc == SSH_FAILED and self.session.lost():
            raise EngineFailure(failures.NETWORK, failures.last_line(res.stderr) or "connection lost")
        return res

    def start(self, line):
        """Start a command in the background over the same master; returns a Background."""
        self.session.connect()
        return Background(self.session.popen(line), self.session.name, line)

    def _scp(self, argv, progress, total):
        """Run scp with a pty on stdout (progress meter) and stderr on a pipe."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                                    env=_child_env(), preexec_fn=_own_terminal)
        except OSError as e:
            os.close(master)
            os.close(slave)
            raise EngineFailure(failures.MISSING, str(e)) from e
        os.close(slave)

        def pump():
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    break
                if not data:
                    break
                found = _PCT_RE.findall(data)
                if found and total:
                    progress.advance_to(total * int(found[-1]) // 100)
        t = threading.Thread(target=pump, name="scp-progress")
        t.daemon = True
        t.start()
        err = proc.stderr.read().decode("utf-8", "replace")
        rc = proc.wait()
        t.join(5)
        os.close(master)
        return rc, err

    def put(self, local, remote, offset, progress):
        self.session.connect()
        total = progress.total
        if offset == 0:
            # absolute: scp would read a relative "a:b" as a remote host
            argv = self.session.args.scp_argv([os.path.abspath(local)], self.session.args.remote(remote))
            rc, err = self._scp(argv, progress, total)
            if rc != 0:
                self._fail(rc, err)
            progress.advance_to(total)
            return
        self._append(local, remote, offset, progress)

    def _append(self, local, remote, offset, progress):
        proc = self.session.popen(bash_c(APPEND, remote, offset), stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        errbuf = []
        t = threading.Thread(target=lambda: errbuf.append(proc.stderr.read()), name="append-stderr")
        t.daemon = True
        t.start()
        done = offset
        try:
            with open(local, "rb") as f:
                f.seek(offset)
                while True:
                    data = f.read(1024 * 1024)
                    if not data:
                        break
                    proc.stdin.write(data)
                    done += len(data)
                    progress.advance_to(done)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        rc = proc.wait()
        t.join(5)
        err = b"".join(errbuf).decode("utf-8", "replace")
        if rc != 0:
            if rc == 17:
                raise EngineFailure(failures.OTHER, failures.last_line(err))
            self._fail(rc, err)

    def get(self, remote, local, offset, progress):
        self.session.connect()
        if offset == 0:
            argv = self.session.args.scp_argv([self.session.args.remote(remote)], os.path.abspath(local))
            rc, err = self._scp(argv, progress, progress.total)
            if rc != 0:
                self._fail(rc, err)
            progress.advance_to(progress.total)
            return
        with open(local, "ab") as f:
            proc = self.session.popen(bash_c(TAIL, remote, offset), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            done = offset
            while True:
                data = proc.stdout.read(1024 * 1024)
                if not data:
                    break
                f.write(data)
                done += len(data)
                progress.advance_to(done)
            err = proc.stderr.read().decode("utf-8", "replace")
            rc = proc.wait()
        if rc != 0:
            self._fail(rc, err)

    def put_tree(self, local_dir, remote_dir, progress):
        self.session.connect()
        argv = self.session.args.scp_argv([os.path.abspath(local_dir)], self.session.args.remote(remote_dir),
                                          recursive=True, preserve=True)
        rc, err = self._scp(argv, progress, 0)
        if rc != 0:
            self._fail(rc, err)
        progress.advance_to(progress.total)


class Background(object):
    """A command running beside a transfer (the node-side hash follower)."""

    def __init__(self, proc, node, line):
        self.proc = proc
        self.node = node
        self.line = line

    def result(self, timeout):
        from .result import CommandResult
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            return None
        return CommandResult(self.node, self.line, self.proc.returncode, out.decode("utf-8", "replace"),
                             err.decode("utf-8", "replace"))

    def cancel(self):
        # Never wait for EOF here: the master holds our pipe ends (fd passing) for as long as
        # the remote side of the session lives.
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
