"""Durable controller state: atomic JSON files, the run lock, and the run journal."""
import datetime
import errno
import fcntl
import json
import os
import re
import socket
import stat
import sys
import threading

import jsonschema

from drupgrade import config, procs, versions
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


def atomic_write_json(path, obj):
    """Write JSON so that a crash leaves either the old or the new file: temp (0600), fsync, rename,
    fsync dir. A failed write leaves no temp file behind; a full disk is a DrupgradeError."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    data = (json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
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
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        done = True
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


def _corrupt(path, reason):
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
        raise _corrupt(path, _("not valid JSON ({detail})").format(detail=str(e).splitlines()[0])) from None
    if schema is not None:
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(config.load_schema(schema)).iter_errors(data))
        if error is not None:
            where = "/" + "/".join(str(p) for p in error.absolute_path)
            raise _corrupt(path, _("{where}: {detail}").format(where=where, detail=error.message[:300]))
    return data


class RunLock:
    """One run at a time per state dir. flock dies with its process, so kill -9 never leaves it stale.
    The file names the holder (pid, its start time, host, since when, what): a refused command says
    what that process is and how long it has run (procs.describe)."""

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
    """The lock file's holder, and what that process is now when it runs on this host."""
    m = re.match(r"^pid ([0-9]+) \(started ([0-9.]+)\) on (\S+) since", holder)
    now = procs.describe(m.group(1), m.group(2)) if m and m.group(3) == socket.gethostname() else None
    return "%s (%s)" % (holder, now) if now else holder


class Journal:
    """The run's record: every step start and end per node, written durably before moving on."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.lock = threading.RLock()  # nodes run in threads; one writer at a time

    @classmethod
    def create(cls, runs_dir, run_id, **info):
        path = os.path.join(runs_dir, run_id, "journal.json")
        data = dict(info, run_id=run_id, created=now_iso(), status="running", events=[],
                    argv=sys.argv[1:])
        journal = cls(path, data)
        journal.save()
        return journal

    @classmethod
    def current(cls, pointer, within):
        """The journal a pointer file ({"journal": path}) names, or None when there is none. The
        journal must be <within>/<id>/journal.json (within: <state_dir>/runs or rollbacks)."""
        info = read_json(pointer, schema="state_pointer")
        if not info:
            return None
        path = os.path.realpath(info["journal"])
        if os.path.dirname(os.path.dirname(path)) != os.path.realpath(within):
            raise _corrupt(pointer, _("it names {path}, which is not a journal in {dir}").format(
                path=info["journal"], dir=within))
        try:
            return cls.load(path)
        except FileNotFoundError:
            return None

    @classmethod
    def load(cls, path):
        """A journal, checked (schemas/journal.json) and its versions normalised again: its values
        become paths and commands on the nodes."""
        data = read_json(path, schema="journal")
        if data is None:
            raise FileNotFoundError(path)
        try:
            if "target" in data:
                data["target"] = versions.normalize(data["target"])
            data["hops"] = [[versions.normalize(a), versions.normalize(b)] for a, b in data.get("hops", [])]
            for info in data.get("hop_info", {}).values():
                info["from"], info["to"] = versions.normalize(info["from"]), versions.normalize(info["to"])
        except DrupgradeError as e:
            raise _corrupt(path, e.message) from None
        return cls(path, data)

    def save(self):
        with self.lock:
            atomic_write_json(self.path, self.data)

    def record(self, **event):
        """Append an event (node, step, hop, event=start|end|…, …) and make it durable."""
        event.setdefault("time", now_iso())
        with self.lock:
            self.data["events"].append(event)
            self.save()

    def set(self, **fields):
        with self.lock:
            self.data.update(fields)
            self.save()

    def last(self, **match):
        """The most recent event whose fields equal match, or None."""
        for event in reversed(self.data["events"]):
            if all(event.get(k) == v for k, v in match.items()):
                return event
        return None
