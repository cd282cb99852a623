"""The run's journal and its one owner: every step start and end per node, written durably before
the run moves on; what `resume`, `retry`, `status` and `rollback_tool` read back.

A result is kept per hop, step and node (its key `hop/step/node` is made and read here only) with
its status (the constants below), its attempts and the run key of its current attempt. The engine
threads wait on `Journal.changed`; a node's follower journals, a waiting worker reads. The file is
checked against schemas/journal.json on every load: its values become paths and runs on the nodes.
"""
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time

from drupgrade import rolling, state, versions
from drupgrade.errors import DrupgradeError
from drupgrade.i18n import _

# A step's result on a node (results[key]["status"]).
RUNNING = "running"  # began in the run its "run" names; no end seen yet (it may still run there)
QUEUED = "queued"  # journaled with the first step of its run: waits there (its turn or its gate)
OK = "ok"
FAILED = "failed"
RETRY = "retry"  # runs again as a new attempt (a retry policy, a lost run, a refused node lock)
RESULT_STATUSES = (RUNNING, QUEUED, OK, FAILED, RETRY)

# A run's or a rollback session's own status (data["status"]): RUNNING and FAILED, or one of these.
DONE = "done"
PARTIAL = "partial"  # --only-phase / --from-phase ended well
RESTARTED = "restarted"  # closed: its policy was to start over, a new run began
ROLLED_BACK = "rolled_back"  # rollback_tool took the nodes back to the backup before it
ABANDONED = "abandoned"  # a rollback session given up for another one
# A run that failed after its backup completed, with [run] on_failure = rollback: its automatic
# rollback (data["auto_rollback"]) has begun and not ended; 'resume' finishes it.
ROLLING_BACK = "rolling_back"
RUN_STATUSES = (RUNNING, FAILED, DONE, PARTIAL, RESTARTED, ROLLED_BACK, ABANDONED, ROLLING_BACK)
UNFINISHED = (RUNNING, FAILED, ROLLING_BACK)  # a run or session that may still be continued

# A rollback session's numbered step (data["steps"][n]["status"]): PENDING until it first begins.
PENDING = "pending"
SESSION_STEP_STATUSES = (PENDING, RUNNING, FAILED, DONE)


def key(hop, step, node):
    """The journal key of a result; step and node by name or as objects with a name."""
    return "%s/%s/%s" % (hop, getattr(step, "name", step), getattr(node, "name", node))


def _name(x):
    return getattr(x, "name", x)


class Result:
    """A step's result on one node in one hop, as it was when read: the parts of its key as fields
    (hop, step, node: names), and its journaled fields (status, attempts, run, rc, reason, …)."""

    def __init__(self, hop, step, node, fields=None):
        self.hop, self.step, self.node = hop, step, node
        self.fields = dict(fields or {})

    @property
    def key(self):
        return key(self.hop, self.step, self.node)

    @property
    def status(self):
        return self.fields.get("status")

    @property
    def attempts(self):
        return self.fields.get("attempts", 0)

    @property
    def run(self):
        """The run key of the current attempt (the detached run on the node), or None."""
        return self.fields.get("run")

    @property
    def reason(self):
        return self.fields.get("reason")

    @property
    def exists(self):
        """The journal has an entry for it."""
        return bool(self.fields)

    def get(self, field, default=None):
        return self.fields.get(field, default)

    def in_run(self, run_key, *statuses):
        """True when the current attempt is in run `run_key` with one of these statuses."""
        return self.run == run_key and self.status in statuses


class Attempts:
    """The attempts of a node's steps counted when one follower of their run began: a higher
    count later means the step began in this follower's run. A step journaled running at that
    moment began before an interruption (a re-attach): its current attempt counts as this run's."""

    def __init__(self, journal, hop, node, steps):
        self.journal, self.hop, self.node = journal, hop, node
        self.base = {}
        for s in steps:
            r = journal.result(hop, s, node)
            self.base[_name(s)] = r.attempts - (1 if r.status == RUNNING else 0)

    def began(self, step):
        """The step began (again) in this follower's run."""
        return self.journal.result(self.hop, step, self.node).attempts > self.base[_name(step)]

    def reported(self, step):
        """The step's end was handed on: a later attempt of it is news again."""
        self.base[_name(step)] = self.journal.result(self.hop, step, self.node).attempts


class Journal:
    """One run's (or rollback session's) journal file and the one writer of its results."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.lock = threading.RLock()  # nodes run in threads; one writer at a time
        self.changed = threading.Condition(self.lock)  # notified whenever a result changed
        self.listeners = []  # callables given each Result that changed (subscribe)
        self._changes = 0  # how many changes the data has had (save), and how many are on disk
        self._written = 0
        self._write_lock = threading.Lock()  # one file write at a time, outside the data's lock
        self._thread = threading.local()  # per thread: depth of its batch() blocks, its change to write

    @classmethod
    def create(cls, runs_dir, run_id, **info):
        path = os.path.join(runs_dir, run_id, "journal.json")
        data = dict(info, run_id=run_id, created=state.now_iso(), status=RUNNING, events=[],
                    argv=sys.argv[1:])
        journal = cls(path, data)
        journal.save()
        return journal

    @classmethod
    def current(cls, pointer, within):
        """The journal a pointer file ({"journal": path}) names, or None when there is none. The
        journal must be <within>/<id>/journal.json (within: <state_dir>/runs or rollbacks)."""
        info = state.read_json(pointer, schema="state_pointer")
        if not info:
            return None
        path = os.path.realpath(info["journal"])
        if os.path.dirname(os.path.dirname(path)) != os.path.realpath(within):
            raise state.corrupt(pointer, _("it names {path}, which is not a journal in {dir}").format(
                path=info["journal"], dir=within))
        try:
            return cls.load(path)
        except FileNotFoundError:
            return None

    @classmethod
    def load(cls, path):
        """A journal, checked (schemas/journal.json) and its versions normalised again: its values
        become paths and commands on the nodes."""
        data = state.read_json(path, schema="journal")
        if data is None:
            raise FileNotFoundError(path)
        try:
            if "target" in data:
                data["target"] = versions.normalize(data["target"])
            data["hops"] = [[versions.normalize(a), versions.normalize(b)] for a, b in data.get("hops", [])]
            for info in data.get("hop_info", {}).values():
                info["from"], info["to"] = versions.normalize(info["from"]), versions.normalize(info["to"])
        except DrupgradeError as e:
            raise state.corrupt(path, e.message) from None
        return cls(path, data)

    # -- the file --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self):
        """The journal's lock for a read or a change: a change saved inside (save) is on disk when
        the thread's outermost batch ends, after the lock is released (group commit: while one
        thread writes the file, the others change the data; the next write holds all of their
        changes, so 20 nodes ending a step at once cost one or two writes, not 20). Change the
        journal only inside batch(), never under a bare `with journal.lock`."""
        local = self._thread
        with self.lock:
            local.depth = getattr(local, "depth", 0) + 1
            try:
                yield
            finally:
                local.depth -= 1
        if local.depth == 0 and getattr(local, "change", 0):
            change, local.change = local.change, 0
            self._write(change)

    def save(self):
        """Make the data as it is now durable: at the end of the thread's outermost batch()."""
        with self.batch():
            self._changes += 1
            self._thread.change = self._changes

    def _write(self, change):
        """Write the file unless a write that holds change (and whatever came before it) is done."""
        with self._write_lock:
            if self._written >= change:
                return
            with self.lock:
                changes, data = self._changes, state.json_bytes(self.data, compact=True)
            state.atomic_write_bytes(self.path, data)
            self._written = changes

    def record(self, **event):
        """Append an event (node, step, hop, event=start|end|…, …) and make it durable."""
        event.setdefault("time", state.now_iso())
        with self.batch():
            self.data["events"].append(event)
            self.save()

    def set(self, **fields):
        with self.batch():
            self.data.update(fields)
            self.save()

    def last(self, **match):
        """The most recent event whose fields equal match, or None."""
        for event in reversed(self.data["events"]):
            if all(event.get(k) == v for k, v in match.items()):
                return event
        return None

    @property
    def status(self):
        return self.data.get("status")

    def subscribe(self, listener):
        """listener(Result) after every change of a result (begin, finish, note, retry, unqueue), called
        under the journal's lock: it must be quick and must not wait for anything (drupgrade.view)."""
        with self.batch():
            self.listeners.append(listener)

    def unsubscribe(self, listener):
        with self.batch():
            if listener in self.listeners:
                self.listeners.remove(listener)

    def _tell(self, hop, step, node, entry):
        result = Result(hop, _name(step), _name(node), entry)
        for listener in list(self.listeners):
            listener(result)
        return result

    def notify(self):
        """Wake every thread waiting on `changed` (a result changed, or a run ended)."""
        with self.changed:
            self.changed.notify_all()

    # -- results: queries -------------------------------------------------------------------------
    def _results(self):
        return self.data.setdefault("results", {})

    def result(self, hop, step, node):
        """The step's result on the node in the hop (status None, attempts 0 when it has none)."""
        with self.batch():
            return Result(hop, _name(step), _name(node), self._results().get(key(hop, step, node)))

    def results(self, hop=None, steps=None, nodes=None, status=None):
        """The results that match (None: any; steps and nodes: names or objects, status: one or a
        tuple), in key order."""
        steps = None if steps is None else {_name(s) for s in steps}
        nodes = None if nodes is None else {_name(n) for n in nodes}
        statuses = (status,) if isinstance(status, str) else status
        found = []
        with self.batch():
            for k, fields in sorted(self._results().items()):
                h, s, n = k.split("/")
                if (hop is None or h == hop) and (steps is None or s in steps) and \
                        (nodes is None or n in nodes) and (statuses is None or fields.get("status") in statuses):
                    found.append(Result(h, s, n, fields))
        return found

    def pending(self, hop, node, steps):
        """`steps` (in order) from the first one not ok on the node."""
        for i, s in enumerate(steps):
            if self.result(hop, s, node).status != OK:
                return steps[i:]
        return []

    def running_step(self, hop, node, steps):
        """The step of a run of `steps` that is (or was last) running: the first one not ok."""
        return (self.pending(hop, node, steps) or steps)[0]

    def attempts(self, hop, node, steps):
        """The attempt baselines of a follower that begins now (Attempts)."""
        with self.batch():
            return Attempts(self, hop, node, steps)

    # -- results: changes -------------------------------------------------------------------------
    def _update(self, hop, step, node, fields, event):
        with self.batch():
            k = key(hop, step, node)
            entry = self._results().setdefault(k, {"attempts": 0})
            entry.update(fields)
            if event:
                self.record(key=k, **fields)
            self.changed.notify_all()
            return self._tell(hop, step, node, entry)

    def begin(self, hop, node, step, run_key=None, queued=(), local=False):
        """A new attempt of the step, journaled running (durably, with an event) in run `run_key`,
        or in a new run named after the step and attempt; the `queued` steps that follow it in a
        new run are journaled with it, in the same write. A controller step (local) has no run on
        a node. Its Result (attempts, run)."""
        with self.batch():
            attempt = self.result(hop, step, node).attempts + 1
            fields = dict(status=RUNNING, attempts=attempt, node=_name(node), step=_name(step), hop=hop,
                          started=state.now_iso())
            if not local:
                fields["run"] = run_key or "%s.%s.%s.%d" % (self.data["run_id"], hop, _name(step), attempt)
            for later in queued:
                entry = self._results().setdefault(key(hop, later, node), {"attempts": 0})
                if entry.get("status") != OK:
                    entry.update(status=QUEUED, run=fields["run"], node=_name(node), step=_name(later), hop=hop)
                    self._tell(hop, later, node, entry)
            return self._update(hop, step, node, fields, event=True)

    def finish(self, hop, step, node, rc, **fields):
        """The current attempt ended with exit code rc (ok or failed), durably with an event."""
        with self.batch():
            attempt = self.result(hop, step, node).attempts
            return self._update(hop, step, node, dict(
                fields, status=OK if rc == 0 else FAILED, rc=rc, attempts=attempt, ended=state.now_iso()),
                event=True)

    def note(self, hop, step, node, **fields):
        """Fields of a result (elapsed, reason, …) without an event: saved with the next write."""
        return self._update(hop, step, node, fields, event=False)

    def plugin_run(self, hop, step, node, record):
        """One run of a plugin hooked to the step (its name, attempt, rc, reason, peak memory, CPU
        time, duration, outcome: docs/plugins.md) added to the step's result, with an event."""
        with self.batch():
            k = key(hop, step, node)
            entry = self._results().setdefault(k, {"attempts": 0})
            entry.setdefault("plugins", []).append(dict(record))
            self.record(key=k, plugin=dict(record))
            self.changed.notify_all()
            self._tell(hop, step, node, entry)

    def unqueue(self, hop, node, run_key, steps):
        """Run `run_key` ended: its steps still queued there never began in it. One never tried
        before is no result at all; one tried before runs again as a new attempt."""
        with self.batch():
            for s in steps:
                k = key(hop, s, node)
                entry = self._results().get(k)
                if entry and entry.get("status") == QUEUED and entry.get("run") == run_key:
                    if entry.get("attempts"):
                        entry.update(status=RETRY, run=None)
                    else:
                        del self._results()[k]
                        entry = {"attempts": 0}
                    self._tell(hop, s, node, entry)
            self.changed.notify_all()

    def mark_retry(self, hop, steps, nodes=None, only=None, **fields):
        """The results of `steps` (in `hop`; None: any hop; on `nodes`, None: every node; whose
        status is in `only`, None: any) run again as new attempts: a new run key, never the
        earlier run's exit code. Saved; the number of results marked."""
        with self.batch():
            marked = self.results(hop=hop, steps=steps, nodes=nodes, status=only)
            for r in marked:
                self._results()[r.key].update(fields, status=RETRY)
                self._tell(r.hop, r.step, r.node, self._results()[r.key])
            self.save()
            self.changed.notify_all()
        return len(marked)

    # -- what else the run keeps --------------------------------------------------------------------
    def nonce(self, run_key):
        """The secret nonce of a run's marker lines (H2): an HMAC of the run key under the
        journal's own random secret (the journal lives in the private state dir), so every
        resume finds it and no step's output can know it."""
        with self.batch():
            secret = self.data.get("marker_secret")
            if not secret:
                secret = self.data["marker_secret"] = secrets.token_hex(32)
                self.save()
        return hmac.new(secret.encode("ascii"), run_key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def hop_info(self, hop, src, dst):
        """Per hop, once: its backup id (the rollback point taken before the hop), unique in the run;
        the waves of a rolled hop share their first wave's (hop_waves: that wave backs up every node
        before any node moves, drupgrade.rolling)."""
        with self.batch():
            info = self.data.setdefault("hop_info", {})
            first = rolling.wave_hops(self.data, hop)[0]
            if hop not in info and first != hop and first in info:
                info[hop] = dict(info[first], **{"from": src, "to": dst})
                self.save()
            if hop not in info:
                used = {i["backup_id"] for i in info.values()}
                t = time.time()
                while True:
                    backup_id = time.strftime("backup_%Y%m%d_%H%M%S", time.localtime(t))
                    if backup_id not in used:
                        break
                    t += 1
                info[hop] = {"backup_id": backup_id, "from": src, "to": dst}
                self.save()
            return info[hop]

    # -- a rollback session's numbered steps ----------------------------------------------------------
    def session_step(self, n):
        """Step n of a rollback session: its record (status PENDING when it never began)."""
        with self.batch():
            return dict({"status": PENDING}, **self.data.get("steps", {}).get(str(n), {}))

    def set_session_step(self, n, **fields):
        with self.batch():
            self.data.setdefault("steps", {}).setdefault(str(n), {}).update(fields)
            self.save()

    def forget_session_steps(self, numbers):
        """These steps are pending again (saved with the next write)."""
        with self.batch():
            for n in numbers:
                self.data.setdefault("steps", {}).pop(str(n), None)
