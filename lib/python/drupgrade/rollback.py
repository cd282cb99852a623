"""Roll the cluster back to a verified backup (design §4.4.2-§4.4.4, SPEC B3-B5).

The backups are the ones the upgrade's backup phase makes on every node; the controller knows
them from its copies of their manifests (<state_dir>/backups/<id>/<node>.json) and from the
runs' journals. A rollback is a session with its own journal (<state_dir>/rollbacks/<id>/) and
the numbered steps of design §4.4.2.2, each a node step file (scripts/steps/rollback/) that
declares its number, label, estimate and parallel group in its header, run by the upgrade
engine's own fan-out, detached runs, timeouts and journal: a killed rollback_tool is continued
from there.
"""
import concurrent.futures
import json
import logging
import os
import sys
import time

from drupgrade import (
    answers,
    catalog,
    engine,
    fanout,
    i18n,
    log,
    manifest,
    procs,
    product,
    rolling,
    runner,
    safetext,
    state,
    steps,
    strategies,
    timeouts,
    view,
)
from drupgrade.errors import EXIT_CONFIRM, EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, cells, pad
from drupgrade.journal import DONE, FAILED, OK, PARTIAL, ROLLED_BACK, ROLLING_BACK, RUNNING, UNFINISHED, Journal

LOG = logging.getLogger("drupgrade.rollback")
HOP = "rollback"  # the journal key prefix of the rollback's steps (the engine's "hop")
CHECK_STEP = "rollback_check_backup"  # the check before a session starts (not a numbered step)
# The Parallel-group of the steps that restore from the backup (database, program, config: at the
# same time in one-click mode, §4.4.2.1): a continued session verifies the backup again first.
RESTORE_GROUP = "restore"
COUNTDOWN = 5


def wave_hops(count):
    """The hops of a session that rolls back node by node, one per wave: rollback_w1 …"""
    return ["%s_w%d" % (HOP, k + 1) for k in range(count)]


def declared():
    """The numbered steps as their headers declare them (steps.rollback_steps): {n: Step}."""
    return {s.number: s for s in steps.rollback_steps()}


def numbers(first=1):
    """first … N: the numbers of the declared steps from `first` on."""
    return [n for n in sorted(declared()) if n >= first]


def label(n):
    return declared()[n].label


def out(level, text):
    runner.out(level, text)


def status_text(row):
    """An available_backups row's status in the operator's language (node text cleaned)."""
    reason = safetext.clean(row["reason"] or "", one_line=True)
    if row["status"] == "ready":
        return _("ready")
    if row["status"] == "corrupt":
        return _("corrupt: {reason}").format(reason=reason)
    if row["status"] == "not_verified":
        return _("not verified: {reason}").format(reason=reason)
    return _("not usable: {reason}").format(reason=reason)


def available_row(b, problem):
    """A row of available_backups: status ready, not_usable, or corrupt (a manifest or an entry of
    <state_dir>/backups the schema refuses: never used)."""
    status = "corrupt" if b["corrupt"] else "ready" if problem is None else "not_usable"
    return {"backup_id": b["backup_id"], "version": "v" + (b["version"] or "?"),
            "version_to": "v" + (b["version_to"] or "?"), "timestamp": b["timestamp"],
            "run_id": b["run_id"], "nodes": sorted(b["manifests"]), "status": status, "reason": problem}


# -- the session -------------------------------------------------------------------------------
class Rollback:
    """rollback_tool's view of the controller state, the cluster and the current session."""

    def __init__(self, ctx, r=None):
        """r: the upgrade command's Runner when its run rolls back by itself (automatic): its
        transport and its node lock serve the session."""
        self.ctx = ctx
        self.r = r or runner.Runner(ctx)
        self.cfg = self.r.cfg
        self.state_dir = self.r.state_dir
        self.catalog = catalog.Catalog(self.state_dir, [n.name for n in self.cfg.nodes])
        self.current_path = os.path.join(self.state_dir, "current_rollback.json")
        self._steps = None
        self.ahead = {}  # what start() read beside its checks: {"versions": future, "sums": (backup_id, future)}

    def close(self, error=None):
        self.r.close(error)

    def __enter__(self):
        return self

    def __exit__(self, _type, error, _tb):
        self.close(error)

    def lock(self, what):
        # The same lock as the upgrade: a rollback and an upgrade never run at once.
        return state.RunLock(self.state_dir).acquire("rollback_tool " + what)

    def steps(self):
        if self._steps is None:
            found = steps.discover(os.path.join(self.ctx.root, "scripts", "steps"), self.r.policies(),
                                   phases=(steps.ROLLBACK_PHASE,), roles=product.of(self.cfg).step_roles)
            self._steps = {s.name: s for s in found}
            if CHECK_STEP not in self._steps:
                raise DrupgradeError(_("rollback step files are missing: {steps}").format(
                    steps=CHECK_STEP), code=EXIT_USAGE, hint=_("unpack the complete drupgrade tarball again"))
        return self._steps

    def step(self, n):
        return self.steps()[declared()[n].name]

    # -- session journal -------------------------------------------------------------------------
    def current(self):
        return Journal.current(self.current_path, os.path.join(self.state_dir, "rollbacks"))

    def unfinished(self):
        j = self.current()
        return j if j is not None and j.status in UNFINISHED else None

    def next_id(self):
        """The id a new session gets (chosen once: the node lock is claimed under it first)."""
        if getattr(self, "_next_id", None) is None:
            rollbacks = os.path.join(self.state_dir, "rollbacks")
            # Unique beyond this state dir too: it names the steps' detached runs on the nodes.
            t = time.time()
            while True:
                self._next_id = time.strftime("rollback_%Y%m%d_%H%M%S", time.localtime(t))
                if not os.path.exists(os.path.join(rollbacks, self._next_id)):
                    break
                t += 1
        return self._next_id

    def claim_nodes(self, journal, what):
        """The lock on every node (drupgrade.nodelock) for the session `journal` (None: the new
        session's id) until close(): refused while another holder, e.g. the upgrade run a
        controller crash left going, still has live runs there (--take-over stops them)."""
        self.r.claim_nodes(journal.data["run_id"] if journal is not None else self.next_id(), "rollback_tool", what)

    def new_session(self, backup_id, mode, trigger="rollback_tool"):
        """trigger: who started it, rollback_tool or upgrade.sh (the automatic rollback of a failed run)."""
        b = self.catalog.backups()[backup_id]
        rollbacks = os.path.join(self.state_dir, "rollbacks")
        rollback_id = self.next_id()
        try:  # read beside start()'s checks when it ran (nothing was changed since)
            ahead = self.ahead.pop("versions", None)
            found = ahead.result() if ahead is not None else self.r.detect_versions()
        except DrupgradeError:
            found = {}
        restored = self.catalog.restored(b)  # a mixed cluster's run may have left nodes untouched: not these
        only = {"hop_nodes": {HOP: restored}} if len(restored) < len(self.cfg.nodes) else {}  # (engine.on_node)
        waves = self.online_waves(backup_id) if mode == "auto" else None
        if waves:  # node by node: one hop of the session per wave (engine.on_node, mixed.runs_in)
            hops = wave_hops(len(waves))
            only = {"online": True, "hop_nodes": dict(zip(hops, waves)),
                    "hop_waves": {h: [k + 1, len(waves)] for k, h in enumerate(hops)}}
        journal = Journal.create(rollbacks, rollback_id, backup_id=backup_id, mode=mode,
                                       to_version=b["version"], upgrade_run=b["run_id"],
                                       versions_before=found, started=state.now_iso(), steps={}, trigger=trigger,
                                       **only)
        state.atomic_write_json(self.current_path, {"rollback_id": rollback_id, "journal": journal.path})
        self.record_history(journal)
        if waves:
            out("info", _("rollback {id} goes node by node, in the roll's {count} waves ({waves}): the other nodes "
                          "keep serving, the database is not restored from its dump (what was written "
                          "meanwhile stays); the last wave undoes the expand half of its migrations").format(
                id=rollback_id, count=len(waves), waves=" | ".join(", ".join(w) for w in waves)))
        return journal

    def online_waves(self, backup_id):
        """The waves in which a rollback to backup_id takes the nodes back one at a time while the others
        keep serving (rolling.rollback_waves: a rolled hop whose first wave ended its `first` steps and
        whose contract half did not begin, the last hop its run began), when the hop's strategy says
        how (its phase rollback_online); else None: every node stops together and the database is
        restored from its dump."""
        b = self.catalog.backups()[backup_id]
        if not (b.get("hop") and b.get("version") and b.get("version_to")):
            return None
        run = next((r for r in self.catalog.runs() if r.get("run_id") == b["run_id"]), None)
        if run is None:
            return None
        run_steps = [s for s in strategies.engine_steps(self.ctx.root) if s.phase != steps.ROLLBACK_PHASE]
        waves = rolling.rollback_waves(run, b["hop"], [s.name for s in run_steps if s.rolling == "first"],
                                       [s.name for s in run_steps if s.rolling == "last"])
        if not waves:
            return None
        strategy = strategies.catalog(self.cfg.product_name, self.ctx.root).select(b["version"], b["version_to"])
        return waves if strategy.rolls_back_online else None

    def record_history(self, journal):
        d = journal.data
        before = sorted(set(d.get("versions_before", {}).values()))
        started = d.get("started")
        ended = d.get("ended")
        duration = None
        if started:
            t0 = time.mktime(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ"))
            t1 = time.mktime(time.strptime(ended, "%Y-%m-%dT%H:%M:%SZ")) if ended else t0
            secs = int(t1 - t0)
            duration = "%dm%02ds" % divmod(secs, 60)
        status = {RUNNING: "in_progress", DONE: "completed"}.get(d["status"], d["status"])
        self.catalog.record({
            "rollback_id": d["run_id"], "timestamp": started, "backup_used": d["backup_id"],
            "from_version": ", ".join("v" + v for v in before) or None,
            "to_version": "v" + (d.get("to_version") or "?"), "rollback_type": d["mode"],
            "duration": duration, "status": status, "upgrade_run": d.get("upgrade_run"),
            "trigger": d.get("trigger", "rollback_tool")})

    def finish(self, journal, status):
        journal.set(status=status, ended=state.now_iso())
        self.record_history(journal)

    # -- nodes -----------------------------------------------------------------------------------
    def ops(self, journal):
        from drupgrade.nodeops import NodeOps
        ops = NodeOps(self.cfg, self.r.transport(), journal, self.ctx.root, out)
        ops.holder = self.r.holder
        return ops

    def db_checksums(self, backup_id):
        """The tables' checksums taken with the dump (on the nodes of the product's backup_db step),
        compact JSON ('' if none): every DB node's restore and verification compare with them. What
        start() read beside the checks when it is this backup's, else read now."""
        ahead_id, ahead = self.ahead.pop("sums", (None, None))
        if ahead_id == backup_id:
            return ahead.result()  # raises what the read raised
        return self.read_db_checksums(backup_id)

    def read_db_checksums(self, backup_id):
        """db_checksums as the node of the product's backup_db step has them now."""
        dumped = product.of(self.cfg).step_roles.get("backup_db", [])
        b = self.catalog.backups()[backup_id]
        for node in self.cfg.nodes:
            if set(dumped) & set(node.roles):
                path = "%s/%s/database_checksums.json" % (self.cfg.paths["node_backup_dir"],
                                                          self.catalog.node_backup(b, node.name))
                text, why = manifest.read_remote(self.r.transport(), node, path)  # capped: manifest.MAX_BYTES
                if why == manifest.too_large():
                    raise DrupgradeError(_("{file} on node {node} is {reason}").format(
                        file=path, node=node.name, reason=why), code=EXIT_FAILED,
                        hint=_("the backup is not usable as it is: choose another backup ('bin/rollback_tool list')"))
                try:
                    return json.dumps(json.loads(text or ""), sort_keys=True, separators=(",", ":"))
                except ValueError:
                    return ""
        return ""

    def context_values(self, node, backup_id, rollback_id, db_checksums=""):
        return {
            "DR_DB_CHECKSUMS": db_checksums,
            "DR_NODE": node.name, "DR_ROLES": ",".join(node.roles), "DR_BACKUP_ID": backup_id,
            "DR_BACKUP_ROOT": self.cfg.paths["node_backup_dir"], "DR_ROLLBACK_ID": rollback_id,
            "DR_TOOL_DIR": self.cfg.paths["node_tool_dir"], "DR_STATE_DIR": "/var/lib/drupgrade/node-state",
            "DR_FAULT_INJECTION": self.cfg.run["fault_injection"],
        }

    def install_tool(self, node, ops):
        """The current node tool package on `node`, once no run of an upgrade lives there: a chain an
        earlier command of the upgrade left (waiting at a gate for a step that never came, say, when
        another node failed; chaos trial 19.83) is stopped and confirmed gone first, so that nothing
        of the upgrade runs on the nodes the rollback restores. A run of a rollback session (a step
        a killed rollback command left running) keeps its tool directory: continuing the session
        re-attaches to it."""
        from drupgrade import nodelock
        t = self.r.transport()
        runs = nodelock.live_runs(self.cfg, t, [node])[node.name]
        for run in [r for r in runs if r.startswith("run_")]:
            try:
                info = t.detached(node, run).stop()
            except DrupgradeError as e:
                raise DrupgradeError(_("node {node}: the upgrade's run {run} still lives there and could not be "
                                       "stopped: {detail}").format(node=node.name, run=run, detail=e.message),
                                     code=EXIT_FAILED, hint=_("nothing was changed; check the node, then run the "
                                                              "rollback again")) from None
            out("warning", _("node {node}: the upgrade's run {run} was still alive there; it was stopped ({how}) "
                             "before the rollback").format(node=node.name, run=run, how=info["signal"]))
        if any(not r.startswith("run_") for r in runs):
            LOG.warning(_("node {node}: runs still live there ({runs}): its tool directory is left as it "
                          "is").format(node=node.name, runs=", ".join(runs)))
            return
        ops.install_tool(node)

    def install_tools(self):
        """install_tool on every node at once."""
        ops = self.ops(None)
        fanout.by_node(self.cfg, lambda node: self.install_tool(node, ops))

    def refresh_nodes(self, journal):
        """Before continuing a session: the current tools (unless a step may still run on a node:
        its script must stay in place) and the session's context on every node."""
        if not journal.results(status=RUNNING):
            self.install_tools()
        self.write_env(journal)

    def bindings(self, backup_id, online=False):
        """The DR_* lines that give rollback_tool's steps their components: those the strategy of the
        hop that made the backup fills its phase rollback with (rollback_online for a session that rolls
        back node by node; strategies.for_rollback; exit 2 when there is none), so that a backup is
        restored as its own hop's data says."""
        b = self.catalog.backups()[backup_id]
        if not b["version"] or not b["version_to"]:
            raise DrupgradeError(_("backup {id} does not say which hop made it").format(id=backup_id), code=EXIT_USAGE,
                                 hint=_("choose another backup ('bin/rollback_tool list')"))
        strategy, bound = strategies.for_rollback(self.cfg.product_name, self.ctx.root, b["version"], b["version_to"],
                                                  online)
        values = {"DR_STRATEGY": strategy.id}
        for binding in bound.values():
            values.update(binding.env())
        return values

    def write_env(self, journal):
        """The session's rollback.env on every node: what its steps (and drstep by hand) read."""
        from drupgrade import nodeops
        path = self.cfg.paths["node_tool_dir"] + "/rollback.env"
        sums = self.db_checksums(journal.data["backup_id"])
        b = self.catalog.backups()[journal.data["backup_id"]]
        ids = {n.name: self.catalog.node_backup(b, n.name) for n in self.cfg.nodes}  # a mixed run: per node
        bound = {i: self.bindings(i, journal.data.get("online", False)) for i in set(ids.values())}
        fanout.by_node(self.cfg, lambda node: nodeops.write_env(self.r.transport(), node, path, dict(
            self.context_values(node, ids[node.name], journal.data["run_id"], sums), **bound[ids[node.name]])))

    def resolve(self, backup_id):
        """BACKUP_ID or latest -> a backup id the controller knows (else exit 2)."""
        if backup_id == "latest":
            found = self.catalog.latest()
            if not found:
                raise DrupgradeError(_("there is no upgrade run left to roll back"), code=EXIT_USAGE,
                                     hint=_("name a backup: 'bin/rollback_tool list' shows them"))
            return found
        if backup_id not in self.catalog.backups():
            raise DrupgradeError(_("unknown backup {id}").format(id=backup_id), code=EXIT_USAGE,
                                 hint=_("'bin/rollback_tool list' shows the backups"))
        return backup_id

    def start(self, backup_id, mode):
        """A new session: on every node at once, the current tools and then the backup verified
        there (else exit 1: nothing was changed on any node), the session journal and the nodes'
        context. Beside the checks, read-only: the nodes' versions and the dump's checksums that
        the session and its context need (ahead), so that step 1 follows the last check at once."""
        out("info", _("verifying backup {id} on every node").format(id=backup_id))
        ops = self.ops(None)
        with log.timed(LOG, "tools and backup check on every node"), \
                concurrent.futures.ThreadPoolExecutor(max_workers=2) as side:
            self.ahead = {"versions": side.submit(self.r.detect_versions),
                          "sums": (backup_id, side.submit(self.read_db_checksums, backup_id))}
            reason = self.verify_backup(backup_id, before=lambda node: self.install_tool(node, ops))
        b = self.catalog.backups()[backup_id]
        if reason:
            hint = _("nothing was changed; choose another backup ('bin/rollback_tool list') or repair the "
                     "files named above")
            if not b["manifests"] and not b["corrupt"]:
                hint = _("the upgrade stopped before its backup was complete: it changed nothing but stopped "
                         "the services; continue it with 'bin/upgrade.sh retry', or start the services on "
                         "every node with '{command}'").format(command=product.of(self.cfg).data["start_command"])
            raise DrupgradeError(_("backup {id} cannot be used: {reason}").format(id=backup_id, reason=reason),
                                 code=EXIT_FAILED, hint=hint)
        for node_backup in {self.catalog.node_backup(b, n.name) for n in self.cfg.nodes}:
            self.bindings(node_backup)  # the backup's hop has a strategy that says how to restore it, else exit 2
        out("info", _("backup {id} verifies: version {version}, taken {time}").format(
            id=backup_id, version=b["version"], time=b["timestamp"]))
        return b

    def verify_backup(self, backup_id, before=None):
        """None when every node's backup files verify, else the reason (nothing is changed). before:
        called with each node first, in the node's own thread (start: its tool installed)."""
        b = self.catalog.backups().get(backup_id)
        if b is None:
            return _("no such backup")
        problem = self.catalog.problem(b)
        if problem:
            return problem
        t = self.r.transport()
        tool_dir = self.cfg.paths["node_tool_dir"]

        def one(node):
            if before is not None:
                before(node)
            if node.name not in self.catalog.restored(b):
                return None  # a mixed cluster's run left it untouched: the rollback leaves it too
            own = self.catalog.node_backup(b, node.name)  # a mixed run's node: a later hop's backup
            values = self.context_values(node, own, "check")
            command = ["env", "DRSTEP_ROLLBACK_CONTEXT=/dev/null"] + ["%s=%s" % kv for kv in sorted(
                dict(values, **i18n.node_env()).items())] + [tool_dir + "/bin/drstep", CHECK_STEP, "run"]
            res = t.run(node, command, timeout=self.steps()[CHECK_STEP].timeout)
            if res.ssh_failed:
                return _("node {node} cannot be reached: {detail}").format(
                    node=node.name, detail=safetext.clean(res.stderr.strip(), one_line=True)[-200:])
            if res.rc != 0:
                return _("node {node}: {detail}").format(node=node.name, detail=engine.failure_line(
                    res.stderr + res.stdout) or _("exit code {rc}").format(rc=res.rc))
            path = "%s/%s/backup_manifest.json" % (self.cfg.paths["node_backup_dir"], own)
            text, why = manifest.read_remote(t, node, path)
            theirs, why = manifest.parse(text, own) if why is None else (None, why)
            if why:
                return _("node {node}: the manifest {file} is not usable: {reason}").format(
                    node=node.name, file=path, reason=why)
            ours = b["manifests"][node.name]["backup_files"]
            for name in sorted(set(ours) | set(theirs["backup_files"])):
                if theirs["backup_files"].get(name) != ours.get(name):
                    return _("node {node}: the manifest on the node differs from the controller's copy "
                             "({entry})").format(node=node.name, entry=name)
            return None

        reasons = [r for r in fanout.by_node(self.cfg, one).values() if r]
        return "; ".join(reasons) if reasons else None

    def reverify(self, journal, numbers):
        """A continued session (auto latest, stepN, auto_continue_from, manual -> continue) checks its
        backup again before a step that restores from it (2-4) runs: the node re-hashes every file
        and its manifest is compared with the controller's copy, as when the session started. A
        backup changed since then is refused (exit 1) before anything more is restored."""
        if not any(declared()[n].group == RESTORE_GROUP for n in numbers):
            return
        backup_id = journal.data["backup_id"]
        out("info", _("verifying backup {id} on every node again before restoring from it").format(id=backup_id))
        reason = self.verify_backup(backup_id)
        if reason:
            raise DrupgradeError(
                _("backup {id} no longer verifies: {reason}; rollback {rollback} stopped before restoring "
                  "anything more").format(id=backup_id, reason=reason, rollback=journal.data["run_id"]),
                code=EXIT_FAILED,
                hint=_("the backup changed after the rollback started: put the files named above back as they "
                       "were, then run the command again; or abandon the session with 'bin/rollback_tool manual "
                       "BACKUP_ID' and roll back to another backup ('bin/rollback_tool list')"))

    def list_rows(self, verify=True):
        """available_backups. With verify, each backup is checked on every node with the node tool
        already there (when it is this controller's; else the backups show as not_verified, and
        why) and its size measured there (du): read-only, nothing is written on a node."""
        rows = []
        ids = self.catalog.backup_ids()
        backups = self.catalog.backups()
        unverified = self.tool_problem() if verify and ids else None
        sizes = self.backup_sizes(ids) if verify and ids else {}
        for backup_id in ids:
            b = backups[backup_id]
            problem = self.catalog.problem(b)
            if verify and problem is None and unverified is None:
                problem = self.verify_backup(backup_id)
            row = available_row(b, problem)
            if verify and problem is None and unverified:
                row.update(status="not_verified", reason=unverified)
            row.update(sizes.get(backup_id, {}))
            rows.append(row)
        self.catalog.remember_available(rows)
        return rows

    def tool_problem(self):
        """None when every node has this controller's node tool (its marker names the sha256 of
        the same package), else why the backups cannot be checked there now. Read-only."""
        from drupgrade.transport import owned
        want = self.r.transport().transfer.local_sha256(self.ops(None).tool_package())
        marker = self.cfg.paths["node_tool_dir"] + "/" + owned.MARKER

        def one(node):
            res = self.r.transport().run(node, ["cat", "--", marker], timeout=60)
            if res.ssh_failed:
                return "unreachable", _("node {node} cannot be reached: {detail}").format(
                    node=node.name, detail=res.stderr.strip()[-200:])
            found = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
            return None if found.get("sha256") == want else ("other", node.name)

        found = [r for r in fanout.by_node(self.cfg, one).values() if r]
        other = sorted(why for kind, why in found if kind == "other")
        reasons = [why for kind, why in found if kind == "unreachable"]
        if other:
            reasons.append(_("the node tool on {nodes} is missing or not this controller's, so the backups were not "
                             "checked there; 'bin/rollback_tool list --install-tool' installs it and checks them (a "
                             "rollback installs it too)").format(nodes=", ".join(other)))
        return "; ".join(reasons) or None

    def backup_sizes(self, ids):
        """{backup_id: {"size_bytes": sum over the nodes, "size_by_node": {node: bytes or None}}}
        measured with du on every node (read-only)."""
        root = self.cfg.paths["node_backup_dir"]

        def one(node):
            res = self.r.transport().run(node, ["du", "-sk", "--"] + ["%s/%s" % (root, b) for b in ids], timeout=300)
            found = {}
            for line in res.stdout.splitlines():
                kb, _tab, path = line.partition("\t")
                if kb.isdigit() and path.startswith(root + "/"):
                    found[path[len(root) + 1:]] = int(kb) * 1024
            return None if res.ssh_failed else found

        per_node = fanout.by_node(self.cfg, one)
        sizes = {}
        for b in ids:
            by_node = {n: (found.get(b) if found is not None else None) for n, found in sorted(per_node.items())}
            sizes[b] = {"size_bytes": sum(v for v in by_node.values() if v), "size_by_node": by_node}
        return sizes

    # -- running steps ---------------------------------------------------------------------------
    def engine(self, journal):
        log_dir = os.path.join(self.state_dir, "logs", journal.data["run_id"])
        up = engine.Upgrade(self.cfg, list(self.steps().values()), self.r.policies(), self.ops(journal),
                            journal, self.node_out, log_dir, first_role=product.of(self.cfg).first_role)
        up.resume_hint = _("run the same rollback_tool command again when the link is back: it re-attaches to "
                           "the step instead of starting it again")
        return up

    def node_out(self, level, text):
        if self.progress is not None and self.progress.display is not None and level == "info":
            LOG.debug(text)  # the box shows the progress; per-node lines go to the controller log
        else:
            out(level, text)

    progress = None

    def step_state(self, journal, n):
        return journal.session_step(n)["status"]

    def rerun_from(self, journal, n):
        """Step n and the later ones run again as new attempts (stepN runs n now, the next `auto
        latest` or stepN+1 the rest: they ran on what step n changes again); a run the journal saw
        start and never end is still re-attached, never started twice."""
        again = numbers(n)
        with journal.batch():  # one write: the session's steps and their results agree
            journal.forget_session_steps(again)
            journal.mark_retry(HOP, [declared()[k].name for k in again], only=(OK, FAILED))

    def session_info(self, journal):
        d = journal.data
        status = {RUNNING: "in_progress", DONE: "completed"}.get(d["status"], d["status"])
        mid_step = any(self.step_state(journal, n) == RUNNING for n in numbers())
        if d["status"] == RUNNING and mid_step and not procs.running(d.get("pid"), d.get("pid_started")):
            status = "interrupted"  # the tool died during a step: 'auto latest' continues it
        info = {"rollback_id": d["run_id"], "backup_id": d["backup_id"], "mode": d["mode"],
                "online": bool(d.get("online")),
                "to_version": "v" + (d.get("to_version") or "?"), "status": status,
                "versions_before": d.get("versions_before", {}), "started": d.get("started"),
                "ended": d.get("ended"), "next_step": self.next_step(journal), "steps": []}
        for n in numbers():
            s = journal.session_step(n)
            st = s["status"]
            if st == RUNNING and status != "in_progress":
                st = FAILED  # the tool died during it: the next auto or stepN continues it
            info["steps"].append({"step": n, "label": label(n), "status": st, "elapsed": s.get("elapsed"),
                                  "failures": s.get("failures", [])})
        running = [s for s in info["steps"] if s["status"] == RUNNING]
        info["current_step"] = running[0]["step"] if running else None
        return info

    def known_rows(self):
        """available_backups without touching the nodes: the controller's records, plus the last
        node verification ('list') of each backup."""
        remembered = {r["backup_id"]: r for r in self.catalog.history()["available_backups"]}
        rows = []
        backups = self.catalog.backups()
        for backup_id in self.catalog.backup_ids():
            row = available_row(backups[backup_id], self.catalog.problem(backups[backup_id]))
            old = remembered.get(backup_id)
            if row["status"] == "ready" and old and old.get("status") != "ready":
                row.update(status=old["status"], reason=old.get("reason"))
            rows.append(row)
        return rows

    def run_step(self, journal, up, n, hop=HOP):
        """Step n on every node it concerns (in a session that rolls back node by node: in the wave
        `hop`); the failures (empty when it succeeded)."""
        t0 = time.time()
        journal.set_session_step(n, status=RUNNING, started=state.now_iso())
        if self.progress:
            self.progress.update(n, "running")
        failures = up.run_step_everywhere(self.step(n), hop, None)
        elapsed = round(time.time() - t0, 1)
        if failures:
            journal.set_session_step(n, status=FAILED, elapsed=elapsed, failures=[
                {"node": f.node.name, "reason": f.reason} for f in failures])
        else:
            journal.set_session_step(n, status=DONE, elapsed=elapsed, failures=[])
        if self.progress:
            self.progress.update(n, "failed" if failures else "done")
        return failures

    def run_steps(self, journal, numbers, parallel=False):
        """Steps in order (the one-click mode runs 2, 3 and 4 at the same time); stops at a failure.
        A session that rolls back node by node runs every step wave after wave (batches)."""
        up = self.engine(journal)
        journal.set(status=RUNNING, **procs.identity())
        for hop, group in self.batches(journal, numbers, parallel):
            if len(group) == 1:
                results = {group[0]: self.run_step(journal, up, group[0], hop)}
            else:
                with concurrent.futures.ThreadPoolExecutor(max_workers=len(group)) as pool:
                    futures = {k: pool.submit(self.run_step, journal, up, k, hop) for k in group}
                    results = {k: f.result() for k, f in futures.items()}
            failed = {k: f for k, f in results.items() if f}
            if failed:
                journal.set(status=FAILED)
                self.record_history(journal)
                self.report_failure(journal, failed)
                return EXIT_FAILED
        return 0

    def batches(self, journal, wanted, parallel):
        """(hop, [step number, …]) in the order they run: the steps `wanted`, those of one parallel
        group together when `parallel`; in a session that rolls back node by node, every step in each
        wave (its own hop) in turn: what is done on a node is skipped there, so a continued session
        simply goes through them again."""
        waves = journal.data.get("hop_waves") if journal.data.get("online") else None
        if waves:
            for k, hop in enumerate(wave_hops(len(waves))):
                nodes = ", ".join(journal.data["hop_nodes"][hop])
                out("info", _("rolling back wave {wave}/{waves}: {nodes} (the other nodes keep serving)").format(
                    wave=k + 1, waves=len(waves), nodes=nodes))
                if k:  # the session's steps show this wave's progress (each node's results keep what is done)
                    journal.forget_session_steps(numbers())
                if self.progress is not None:
                    self.progress.wave(k + 1, len(waves), nodes)
                for n in numbers():
                    yield hop, [n]
            return
        todo = list(wanted)
        while todo:
            n = todo.pop(0)
            group = [n]
            together = declared()[n].group if parallel else ""
            if together:
                group += [k for k in todo if declared()[k].group == together]
                todo = [k for k in todo if k not in group]
            yield HOP, group

    def report_failure(self, journal, failed):
        log_dir = os.path.join(self.state_dir, "logs", journal.data["run_id"])
        for n, failures in sorted(failed.items()):
            for f in failures:
                out("error", _("rollback step {n} ({label}) failed on node {node}: {reason}").format(
                    n=n, label=label(n), node=f.node.name, reason=f.reason))
                out("error", _("log: {path}").format(path=f.log or os.path.join(log_dir, f.node.name,
                                                                                  f.step.name + ".log")))
        first = min(failed)
        out("error", _("the rollback stopped at step {n}; the state is kept and nothing else was changed").format(
            n=first))
        if journal.data.get("online"):
            out("error", _("what to do: fix the cause shown above (on the node: {tool}/bin/drstep {step} "
                           "diag|check|run), then continue the node-by-node rollback with 'bin/rollback_tool "
                           "auto latest'").format(tool=self.cfg.paths["node_tool_dir"], step=declared()[first].name))
            return
        out("error", _("what to do: fix the cause shown above (on the node: {tool}/bin/drstep {step} "
                       "diag|check|run), then re-run the step with 'bin/rollback_tool step{n}' or continue "
                       "with 'bin/rollback_tool auto_continue_from {n}'").format(
            tool=self.cfg.paths["node_tool_dir"], step=declared()[first].name, n=first))

    def next_step(self, journal):
        for n in numbers():
            if self.step_state(journal, n) != DONE:
                return n
        return None

    def complete(self, journal):
        """After the last step: the session is done, the history says so, and the upgrade run the backup
        belongs to is closed (rolled back: a new upgrade may start)."""
        self.finish(journal, DONE)
        run = self.r.current_journal()
        if run is not None and run.data.get("run_id") == journal.data.get("upgrade_run") and \
                run.status in (RUNNING, FAILED, DONE, PARTIAL, ROLLING_BACK):
            run.set(status=ROLLED_BACK, rolled_back_by=journal.data["run_id"])
        own = self.restored_versions(journal)
        if len(set(own.values())) > 1:  # a mixed cluster's run: each node is back at its own version
            out("info", _("rollback {id} complete: every node is back at its own version before the run: {versions} "
                          "(backup {backup})").format(id=journal.data["run_id"], backup=journal.data["backup_id"],
                                                      versions=", ".join("%s=%s" % kv for kv in own.items())))
            return 0
        out("info", _("rollback {id} complete: every node is back at {version} (backup {backup})").format(
            id=journal.data["run_id"], version=journal.data["to_version"], backup=journal.data["backup_id"]))
        return 0

    def restored_versions(self, journal):
        """{node: version} the session's backup gives each node back (the version it ran before the
        upgrade run; a node the run left untouched: the one it ran before the session)."""
        b = self.catalog.backups().get(journal.data["backup_id"]) or {"manifests": {}}
        own = {n: catalog.vstrip(m.get("version_from")) for n, m in b["manifests"].items()}
        for n in b.get("untouched", ()):  # left as the run left it: the version it ran before the session
            own[n] = (journal.data.get("versions_before") or {}).get(n, "?")
        return dict(sorted(own.items()))

    def continue_auto(self, journal):
        """The unfinished session `journal` to its end, from its first step not done (§4.4.3.2: the
        one-click mode continues the unfinished rollback): current tools and context on the nodes,
        the backup verified again before anything more is restored from it."""
        first = self.next_step(journal) or numbers()[-1]
        out("info", _("continuing the unfinished rollback {id} to backup {backup} at step "
                      "{n}").format(id=journal.data["run_id"], backup=journal.data["backup_id"], n=first))
        self.refresh_nodes(journal)
        self.reverify(journal, numbers(first))
        return self.auto(journal, first)

    def auto(self, journal, first=1):
        """Every step from `first` on (2-4 in parallel), with the progress display, then done."""
        self.progress = Progress(journal, self, _("one-click rollback") if journal.data["mode"] == "auto"
                                 else _("manual rollback"), self.ctx.console)
        with self.progress:  # its summary on a terminal says how the session ended: complete() first
            rc = self.run_steps(journal, numbers(first), parallel=True)
            return rc or self.complete(journal)

    # -- questions (non-tty: --yes, --answers FILE, else exit 4) -----------------------------------
    def ask(self, question_id, text, choices, default_yes):
        given = answers.read(getattr(self.ctx.args, "answers", None))  # checked: one of the choices
        if question_id in given:
            return given[question_id]
        if self.ctx.yes:
            return default_yes
        if not sys.stdin.isatty():
            raise DrupgradeError(text, code=EXIT_CONFIRM, hint=_(
                "answer with --yes ({default}) or an answer file (--answers FILE with a line "
                "'{id} = {choices}')").format(default=default_yes, id=question_id, choices="|".join(choices)))
        with view.paused():  # the question and its answer on the terminal itself, not above the display
            while True:
                sys.stderr.write("%s [%s] " % (text, "/".join(choices)))
                sys.stderr.flush()
                answer = sys.stdin.readline().strip()
                if answer in choices:
                    return answer



    # -- the automatic rollback of a failed upgrade run ([run] on_failure = rollback) ----------------
    def session(self, rollback_id):
        """The session journal rollbacks/<id>/ (None: there is none, or no id)."""
        path = os.path.join(self.state_dir, "rollbacks", rollback_id or "", "journal.json")
        return Journal.load(path) if rollback_id and os.path.exists(path) else None

    def automatic(self, run):
        """The automatic rollback of the upgrade run `run` (status rolling_back, after a step failed
        for good once its backup was complete): a session of the one-click steps restores
        run["auto_rollback"]["backup_id"] on every node and verifies it, or the session a killed
        controller left is continued. Then every node's version is read back; the run ends
        rolled_back. The command's exit code: 1 (the upgrade failed), also when the rollback did."""
        info = run.data["auto_rollback"]
        backup_id = info["backup_id"]
        session = self.session(info.get("rollback_id"))
        if session is None:
            try:
                self.start(backup_id, "auto")  # verified before anything is touched, else exit 1
            except DrupgradeError:
                run.set(status=FAILED)  # the run stops where it failed, as with on_failure = stop
                out("error", _("the automatic rollback could not start; run {run} stopped where it failed: 'bin/"
                               "upgrade.sh retry' continues it, 'bin/rollback_tool list' shows the other "
                               "backups").format(run=run.data["run_id"]))
                raise
            run.set(auto_rollback=dict(info, rollback_id=self.next_id()))  # before the session: resume finds it
            session = self.new_session(backup_id, "auto", trigger="upgrade.sh")
            out("info", _("automatic rollback {id}: every node back to {version} (backup {backup})").format(
                id=session.data["run_id"], version=session.data["to_version"], backup=backup_id))
            self.write_env(session)
            rc = self.auto(session)
        elif session.status == DONE:  # the controller died after the session ended
            rc = self.complete(session)
        else:
            rc = self.continue_auto(session)
        if rc:
            out("error", _("the automatic rollback of run {run} stopped (see above); when the cause is fixed, "
                           "'bin/upgrade.sh resume' finishes it").format(run=run.data["run_id"]))
            return EXIT_FAILED
        want = session.data["to_version"]
        before = run.data.get("versions_before") or {}  # a mixed cluster's nodes: each its own version
        found = self.r.detect_versions()
        wrong = ["%s=%s" % (n, v) for n, v in sorted(found.items()) if v != before.get(n, want)]
        if wrong:
            raise DrupgradeError(_("after the automatic rollback not every node runs {version}: {nodes}").format(
                version=want if len(set(before.values())) < 2 else "/".join(sorted(set(before.values()))),
                nodes=", ".join(wrong)), code=EXIT_FAILED,
                hint=_("'bin/upgrade.sh nodes' shows each node; roll back by hand with 'bin/rollback_tool auto "
                       "{backup}'").format(backup=backup_id))
        run = Journal.load(run.path)  # complete() closed it: rolled_back
        for f in run.data.get("failures", []):
            out("error", _("upgrade run {run} failed at step {step} on node {node} ({phase}): {reason}").format(
                run=run.data["run_id"], step=f["step"], node=f["node"], phase=run.data.get("failed_phase"),
                reason=f["reason"]))
        nodes = ", ".join("%s=%s" % kv for kv in sorted(found.items()))
        if len(set(found.values())) > 1:  # a mixed cluster: every node at the version it ran before the run
            out("error", _("the cluster is back where it was: every node runs its own version of before the run "
                           "({nodes}); the run ended rolled_back").format(nodes=nodes))
        else:
            out("error", _("the cluster is back at the old version: every node runs {version} ({nodes}); the run "
                           "ended rolled_back").format(version=want, nodes=nodes))
        out("error", _("logs: {upgrade} (the upgrade), {rollback} (the rollback)").format(
            upgrade=os.path.join(self.state_dir, "logs", run.data["run_id"]),
            rollback=os.path.join(self.state_dir, "logs", session.data["run_id"])))
        out("error", _("what to do: fix the cause shown in the step's log, then upgrade again: bin/upgrade.sh run "
                       "--to {target}").format(target=run.data["target"]))
        return EXIT_FAILED


def after_upgrade(ctx, r, run, rc):
    """The end of an upgrade command's run (run, resume, retry): a run that failed after its backup
    completed ([run] on_failure = rollback: status rolling_back) is rolled back now, with this
    command's runner (its node lock); else the run's exit code as it is."""
    if run.status != ROLLING_BACK:
        return rc
    try:
        return Rollback(ctx, r).automatic(run)
    finally:
        r.write_version_state(Journal.load(run.path))


def countdown(console, seconds=COUNTDOWN):
    """Design §4.4.2.1: a countdown that Ctrl-C cancels (KeyboardInterrupt reaches the caller)."""
    for left in range(seconds, 0, -1):
        text = _("rolling back in {n} s; press Ctrl-C to cancel").format(n=left)
        if console is not None:
            sys.stderr.write("\r" + text + " ")
            sys.stderr.flush()
        else:
            out("info", text)
        time.sleep(1)
    if console is not None:
        sys.stderr.write("\n")


# -- the progress display (design §4.4.4.1) ----------------------------------------------------
def clip(text, width):
    """text cut to `width` terminal cells, its end marked with … when cut."""
    if cells(text) <= width:
        return text
    while text and cells(text) > width - 1:
        text = text[:-1]
    return text + "…"


MARKS = {"done": "✓", "running": "▶", "failed": "✗", "pending": "○"}


def box_lines(title, states, started, now, estimates, elapsed_running, width=52, max_width=None):
    """The rollback progress box: states {n: done|running|failed|pending}; a list of lines, at most
    max_width cells wide (a line too long for it is cut with …)."""
    done = sum(1 for s in states.values() if s == "done")
    total = len(states)
    pct = int(100 * done / total) if total else 100
    bar = "█" * (pct // 10) + "░" * (10 - pct // 10)
    running = [n for n in sorted(states) if states[n] == "running"]
    failed = [n for n in sorted(states) if states[n] == "failed"]
    if failed:
        current = _("failed: {label}").format(label=label(failed[0]))
    elif running:
        current = _("{label}...").format(label=" + ".join(label(n) for n in running))
    elif done == total:
        current = _("finished")
    else:
        current = _("waiting")
    left = sum(estimates[n] for n in states if states[n] in ("pending", "failed"))
    left += sum(max(estimates[n] - elapsed_running.get(n, 0), 1) for n in running)
    inner = width - 4
    body = [
        _("current operation: {what}").format(what=current),
        _("overall progress: {bar} {pct}% ({done}/{total} steps done)").format(
            bar=bar, pct=pct, done=done, total=total),
        "",
    ]
    shown = sorted(states)
    col = max(cells(label(n)) for n in shown) + 4
    for i in range(0, len(shown), 2):
        pair = shown[i:i + 2]
        body.append("".join(pad("%s %s" % (MARKS[states[n]], label(n)), col) for n in pair).rstrip())
    body += ["", _("estimated time left: {left}").format(left=timeouts.duration(left if done < total else 0)),
             _("started: {time}").format(time=started)]
    inner = max(inner, max(cells(b) for b in body) + 2, cells(title) + 2)
    if max_width:
        inner = max(min(inner, max_width - 2), 8)
        title, body = clip(title, inner - 2), [clip(b, inner - 2) for b in body]
    title_pad = inner - cells(title)
    lines = ["╔" + "═" * inner + "╗",
             "║" + " " * (title_pad // 2) + title + " " * (title_pad - title_pad // 2) + "║",
             "╠" + "═" * inner + "╣"]
    lines += ["║ " + pad(b, inner - 1) + "║" for b in body]
    lines.append("╚" + "═" * inner + "╝")
    return lines


class Progress:
    """The box in the command's live display on a terminal (drupgrade.view: redrawn in place, the
    transfers' bars below it, the log lines above), plain lines otherwise; zh and en."""

    def __init__(self, journal, rb, mode_label, console):
        self.journal = journal
        self.rb = rb
        self.title = _("system rollback progress - {mode}").format(mode=mode_label)
        self.console = console
        self.display = None
        self.started = time.strftime("%Y-%m-%d %H:%M:%S")
        self.t_started = {}
        self.estimates = estimates(rb.catalog)

    def wave(self, k, count, nodes):
        """A session that rolls back node by node is in its wave k of count (on `nodes`): the title says so."""
        self.title = _("system rollback progress - wave {wave}/{waves}: {nodes}").format(
            wave=k, waves=count, nodes=nodes)
        self.t_started = {}

    def states(self):
        return {n: {"done": "done", "running": "running", "failed": "failed"}.get(
            self.rb.step_state(self.journal, n), "pending") for n in numbers()}

    def lines(self, max_width=None):
        now = time.time()
        return box_lines(self.title, self.states(), self.started, now, self.estimates,
                         {n: now - t for n, t in self.t_started.items()}, max_width=max_width)

    def update(self, n, status):
        if status == "running":
            self.t_started[n] = time.time()
        if self.display is not None:
            return  # the display redraws the box by itself
        states = self.states()
        done, total = sum(1 for s in states.values() if s == "done"), len(states)
        if status == "running":
            out("info", _("[rollback] step {n}/{total} {label}: started").format(n=n, total=total, label=label(n)))
        else:
            out("info" if status == "done" else "error", _("[rollback] step {n}/{total} {label}: {mark} ({pct}%, "
                                                           "{done}/{total} steps done)").format(
                n=n, total=total, label=label(n), mark=MARKS[status], pct=int(100 * done / total), done=done))

    # -- the panel of the live display (drupgrade.view) ---------------------------------------------
    def render(self, width):
        from rich.text import Text
        return Text("\n".join(self.lines(width)), no_wrap=True)

    def summary(self):
        """The box as it ended, then each node's versions, result and elapsed time, and what to do next."""
        from rich.text import Text
        after = self.rb.restored_versions(self.journal) if self.journal.status == DONE else {}
        box = Text("\n".join(self.lines(self.console.width)), no_wrap=True)
        return [box] + view.summary_parts(self.journal, after, kind="rollback")

    def __enter__(self):
        if self.console is not None:
            self.display = view.Display(self.console, self)
            self.display.__enter__()
        return self

    def __exit__(self, *exc):
        if self.display is not None:
            display, self.display = self.display, None
            display.__exit__(*exc)


def estimates(known):
    """Seconds per step: the mean of the earlier rollbacks' durations, else the step's Estimate."""
    found = {n: [] for n in numbers()}
    root = os.path.join(known.state_dir, "rollbacks")
    for name in os.listdir(root) if os.path.isdir(root) else []:
        try:
            journal = Journal.load(os.path.join(root, name, "journal.json"))
        except (FileNotFoundError, DrupgradeError):  # an estimate does without a damaged session
            continue
        for n in found:
            s = journal.session_step(n)
            if s["status"] == DONE and s.get("elapsed"):
                found[n].append(float(s["elapsed"]))
    return {n: (sum(found[n]) / len(found[n]) if found[n] else s.estimate) for n, s in declared().items()}

