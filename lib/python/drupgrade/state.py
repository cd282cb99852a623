"""Durable controller state: the state dir, atomic JSON files, and the run lock (the journal: journal.py)."""
import datetime
import errno
import fcntl
import json
import os
import re
import socket
import stat

import jsonschema

from drupgrade import config, procs
from drupgrade.errors import EXIT_LOCKED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def prepare_state_dir(path):
    """The controller's state dir: made 0700, and made 0700 again on every start (an older tool
    or a hand-made dir may be 0755); one owned by someone else is refused (exit 2)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        raise DrupgradeError(
            _("cannot create the state directory {dir}: {reason}").format(dir=path, reason=e.strerror),
            code=EXIT_USAGE, hint=_("check [paths] state_dir and the permissions of its parent")) from None
    if not stat.S_ISDIR(st.st_mode):
        raise DrupgradeError(_("the state directory {dir} is not a directory").format(dir=path), code=EXIT_USAGE,
                             hint=_("check [paths] state_dir"))
    if st.st_uid != os.geteuid():
        raise DrupgradeError(
            _("the state directory {dir} is owned by uid {owner}, not by you (uid {uid}): its journals decide what "
              "runs on the nodes").format(dir=path, owner=st.st_uid, uid=os.geteuid()), code=EXIT_USAGE,
            hint=_("run the tool as its owner, or if you trust its content: chown -R {uid} {dir}").format(
                uid=os.geteuid(), dir=path))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _no_space(path, e):
    directory = os.path.dirname(os.path.abspath(path))
    return DrupgradeError(
        _("no space left on the controller to write {file} ({reason})").format(file=path, reason=e.strerror),
        hint=_("free space in {dir} (see: df -h {dir}), then run the same command again (or 'resume'); "
               "the previous content of the file is intact").format(dir=directory))


def json_bytes(obj, compact=False):
    """A state file's bytes: JSON, keys sorted, one key a line; compact: on one line (the C encoder:
    about 4x faster, for the journal, written on every step's start and end)."""
    if compact:
        return (json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    return (json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def atomic_write_json(path, obj, durable=True):
    """Write JSON so that a crash leaves either the old or the new file (atomic_write_bytes)."""
    atomic_write_bytes(path, json_bytes(obj), durable)


def atomic_write_bytes(path, data, durable=True):
    """Write a file so that a crash leaves either the old or the new file: temp (0600), fsync, rename,
    fsync dir. A failed write leaves no temp file behind; a full disk is a DrupgradeError.
    durable=False: no fsync (a file any command writes again from the journals, e.g. a run's report:
    after a crash it is the old one or the new one, perhaps not yet on the disk)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    done = False
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.path.lexists(tmp):  # a crashed writer's, with our pid reused
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            view = memoryview(data)
            while view:  # one write in practice: 3x faster than many small ones
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        done = True
        if not durable:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space(path, e) from None
        raise
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def corrupt(path, reason):
    """A state file that cannot be used: exit 2, naming it, nothing changed on a node."""
    return DrupgradeError(
        _("the controller state file {file} is damaged: {reason}").format(file=path, reason=reason), code=EXIT_USAGE,
        hint=_("nothing was changed on any node. Restore the file from a backup of the state directory, or move it "
               "aside (mv {file} {file}.bad) when you no longer need what it records").format(file=path))


def read_json(path, default=None, schema=None):
    """A JSON state file, or default when it does not exist (or its directory is a stray file).
    Truncated or invalid JSON, or data that fails schemas/<schema>.json: a DrupgradeError (exit 2)
    naming the file, never a traceback."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return default
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise corrupt(path, _("not valid JSON ({detail})").format(detail=str(e).splitlines()[0])) from None
    if schema is not None:
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(config.load_schema(schema)).iter_errors(data))
        if error is not None:
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            raise corrupt(path, _("{where}: {detail}").format(where=where, detail=error.message[:300]))
    return data


class RunLock:
    """One run at a time per state dir. flock dies with its process, so kill -9 never leaves it stale.
    The file names the holder (pid, its start time, host, since when, what): a refused command says
    what that process is and how long it has run (procs.running_for)."""

    def __init__(self, state_dir, name="run.lock"):
        self.path = os.path.join(state_dir, name)
        self.fd = None

    def acquire(self, what):
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "?"
            os.close(fd)
            raise DrupgradeError(
                _("another drupgrade run holds the lock {file}: {holder}").format(
                    file=self.path, holder=_holder_now(holder)),
                code=EXIT_LOCKED,
                hint=_("wait for it to finish, or stop that process; the lock is released when it "
                       "exits (even by kill -9)")) from None
        os.ftruncate(fd, 0)
        me = procs.identity()
        info = "pid %d (started %.2f) on %s since %s: %s" % (me["pid"], me["pid_started"], socket.gethostname(),
                                                             now_iso(), what)
        os.write(fd, info.encode("utf-8"))
        os.fsync(fd)
        self.fd = fd
        return self

    def holder(self):
        """Who holds the lock now (its line), or None when no process does (read-only: never waits)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder_now(os.read(fd, 4096).decode("utf-8", "replace").strip() or "?")
        finally:
            os.close(fd)  # closing drops a shared lock we took
        return None

    def release(self):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _holder_now(holder):
    """The lock file's holder in the operator's words: what it runs, its pid, host and since when, and
    how long it has run when it runs on this host."""
    m = re.match(r"^pid ([0-9]+) \(started ([0-9.]+)\) on (\S+) since (\S+): (.*)$", holder, re.S)
    if not m:
        return holder
    pid, started, host, since, what = m.groups()
    elapsed = procs.running_for(pid, started) if host == socket.gethostname() else None
    if elapsed is None:
        return _("pid {pid} on {host} since {since}: {what}").format(what=what, pid=pid, host=host, since=since)
    return _("pid {pid} on {host} since {since}, running for {elapsed}: {what}").format(
        what=what, pid=pid, host=host, since=since, elapsed=elapsed)
