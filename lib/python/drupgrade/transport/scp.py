"""The scp engine: native OpenSSH over the node's multiplexed 'transfer' master (§4.1.2).

File uploads are streamed through one ssh channel of the master into RECEIVE on the node,
which writes the partial file and hashes it in the same pass (from any offset: resume is
the same command). Directory uploads and downloads use the system scp through the same
master; scp shows its progress meter only on a tty: it gets a pty for stdout and we read
the percentages from it (§4.1.5: 解析scp命令输出的进度信息).
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
from .quoting import HASHER, SHA_FN, bash_c
from .sftp import EngineFailure
from .ssh import _child_env, _own_terminal

_PCT_RE = re.compile(rb"(\d{1,3})%")

# One ssh channel carries the file into the partial (`cat >>`, from any offset: resume is
# the same command) while HASHER hashes the whole partial as it grows. Without python3 on
# the node the partial is hashed once after the last byte (openssl, else sha256sum).
RECEIVE = r"""set -u -o pipefail
p=$1 off=$2 size=$3 hasher=$4
if [ "$off" -gt 0 ]; then
  got=$(stat -c %s -- "$p" 2>/dev/null || echo -1)
  [ "$got" = "$off" ] || { echo "partial size is $got, expected $off" >&2; exit 17; }
else
  : > "$p" || exit 12
fi
""" + SHA_FN + r"""
hp=
if command -v python3 >/dev/null 2>&1; then
  exec 3< <(exec python3 -c "$hasher" "$p" "$size" 2>/dev/null)
  hp=$!
fi
stop() { if [ -n "$hp" ]; then kill "$hp" 2>/dev/null; fi; }
cat >> "$p" || { rc=$?; stop; exit "$rc"; }
got=$(stat -c %s -- "$p")
[ "$got" = "$size" ] || { stop; echo "partial size is $got after the transfer, expected $size" >&2; exit 17; }
sum=
if [ -n "$hp" ]; then read -r sum <&3 || sum=; fi
if [ -z "$sum" ]; then sum=$(sha "$p") || exit 1; fi
echo "$sum"
"""

TAIL = r"""set -u
exec tail -c "+$(($2 + 1))" -- "$1"
"""


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
        if self.session.lost():  # rc 255 or not: a dead master is a network failure
            raise EngineFailure(failures.NETWORK, failures.last_line(stderr) or "connection lost")
        raise EngineFailure(failures.classify(stderr, rc), failures.last_line(stderr) or "rc %d" % rc)

    def execute(self, line, stdin=None):
        res = self.session.run(line, stdin=stdin, retry=False)
        if res.ssh_failed and self.session.lost():
            raise EngineFailure(failures.NETWORK, failures.last_line(res.stderr) or "connection lost")
        return res

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
        """Stream local[offset:] into remote through one channel of the transfer master, the
        node hashing the whole file as it is written (RECEIVE). ssh reads the file itself (it
        is its stdin): no copy through Python; the shared file offset is our progress.
        Returns the node's sha256 of the whole remote file."""
        self.session.connect()
        with open(local, "rb") as f:
            f.seek(offset)
            try:
                proc = self._spawn(bash_c(RECEIVE, remote, offset, progress.total, HASHER), f)
            except OSError as e:
                raise EngineFailure(failures.MISSING, str(e)) from e
            done = threading.Event()

            def tick():
                while not done.wait(0.2):
                    try:
                        progress.advance_to(os.lseek(f.fileno(), 0, os.SEEK_CUR))
                    except OSError:
                        return
            t = threading.Thread(target=tick, name="stream-progress")
            t.daemon = True
            t.start()
            try:
                out, err = proc.communicate()
            finally:
                done.set()
                t.join(2)
        err = err.decode("utf-8", "replace")
        if proc.returncode == 17:  # the partial changed under us: probe again
            raise EngineFailure(failures.OTHER, failures.last_line(err))
        if proc.returncode != 0:
            self._fail(proc.returncode, err)
        progress.advance_to(progress.total)
        return out.decode("utf-8", "replace").strip()

    def _spawn(self, line, stdin):
        return self.session.popen(line, stdin=stdin)

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
