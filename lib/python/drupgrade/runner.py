"""What the upgrade commands share: state paths, the lock, versions on the nodes, building a run."""
import contextlib
import logging
import os
import shutil
import tarfile
import threading
import time

from drupgrade import (
    compat,
    engine,
    estimates,
    fanout,
    log,
    mixed,
    plugins,
    product,
    report,
    retry_policy,
    rolling,
    state,
    steps,
    strategies,
    versions,
)
from drupgrade.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _
from drupgrade.journal import DONE, FAILED, OK, PARTIAL, ROLLED_BACK, ROLLING_BACK, RUNNING, Journal

LOG = logging.getLogger("drupgrade.run")
LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL,
          "error": logging.ERROR}


STATE_EVERY = 10  # seconds between writes of version_state.json while a run runs
READY = "ready"  # a rollback point's backup_status once its backup is complete on every node
MANIFEST_STEP = "collect_manifest"  # the step that keeps each node's checked manifest (NodeOps.step_collect_manifest)


def elapsed_text(seconds):
    """Seconds as the design's version_state writes them: 2m15s, 45s."""
    m, sec = divmod(int(round(float(seconds or 0))), 60)
    return "%dm%02ds" % (m, sec) if m else "%ds" % sec


def out(level, text):
    LOG.log(LEVELS.get(level, logging.INFO), text)


class Runner:
    """One command's view of the controller state and the cluster."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.cfg = ctx.config
        self.state_dir = self.cfg.paths["state_dir"]
        self.runs_dir = os.path.join(self.state_dir, "runs")
        self.current_path = os.path.join(self.state_dir, "current_run.json")
        self._transport = None
        self._plugins = None  # plugins(): read once per command
        self.connect_s = None  # seconds the first contact with every node took (detect_versions)
        self.holder = None  # the node-lock key this command holds (claim_nodes)
        self._node_lock = None
        self.compat = None  # compat.Checker of the last plan(): its results and fallback reason
        self.cluster_plan = None  # mixed.ClusterPlan of plan(): each hop's nodes
        self._estimates = {}  # (hops, run id left out) -> estimates(): the history is read once

    # -- data ------------------------------------------------------------------------------
    def policies(self):
        """{name: retry_policy.RetryPolicy} of conf/retry_policy.json."""
        return retry_policy.load(os.path.join(self.ctx.root, "conf", "retry_policy.json"))

    def steps(self):
        """The engine's steps, on the nodes of the roles the product gives each (product.json steps)."""
        return steps.discover(os.path.join(self.ctx.root, "scripts", "steps"), self.policies(),
                              roles=product.of(self.cfg).step_roles)

    def plugins(self):
        """The checked plugins of [plugins] dir (drupgrade.plugins): a bad manifest is exit 2, before
        any node is touched."""
        if self._plugins is None:
            self._plugins = plugins.find(self.cfg, lambda: [s.name for s in self.steps() if not s.local],
                                         product.of(self.cfg))
        return self._plugins

    def strategies(self, hops):
        """{(src, dst): (strategy, {step: Binding})} for every hop: the product's strategy of each
        (strategies.Catalog.select) and what it fills the engine's steps with; exit 2 naming the hop
        and the candidates when none or no single one applies."""
        return {(src, dst): strategies.for_hop(self.cfg.product_name, self.ctx.root, src, dst) for src, dst in hops}

    def _read_catalog(self):
        try:
            strategies.catalog(self.cfg.product_name, self.ctx.root)
        except Exception as e:  # noqa: BLE001 - not cached: strategies() reads it again and says what is wrong
            LOG.debug("reading the strategies beside the first contact: %s", e)

    def matrix(self):
        return product.of(self.cfg).matrix()

    def transport(self):
        if self._transport is None:
            from drupgrade import view
            from drupgrade.transport import Transport
            self._transport = Transport.from_config(self.cfg, view.current)  # bars in the live display
        return self._transport

    def claim_nodes(self, run_id, tool, command):
        """The lock on every node (drupgrade.nodelock) for the run `run_id`, until close();
        --take-over stops another holder's live runs first. Raises exit 5 naming the holder."""
        from drupgrade import nodelock
        lock = nodelock.NodeLock(self.cfg, self.transport(), self.state_dir, run_id, tool, command, out)
        lock.claim(take_over=bool(getattr(self.ctx.args, "take_over", False)))
        self._node_lock, self.holder = lock, lock.key

    def close(self, error=None):
        """The end of the command (`with Runner(ctx) as r:`; error: the exception it ends with): the
        node lock is given back unless contact with a node was lost (its runs may live: the lock
        keeps others off them)."""
        lock, self._node_lock = self._node_lock, None
        if lock is not None and not isinstance(error, engine.NodeLost):
            try:
                with log.timed(LOG, "node lock given back"):
                    lock.release()
            except Exception as e:  # noqa: BLE001 - never hides how the command ended
                LOG.debug("node lock release: %s", e)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if lock is not None:  # a command that changed the nodes ended: its run's report (drupgrade.report)
            with log.timed(LOG, "run report"):
                report.after_command(self, dict(lock.record)["run_id"])

    def __enter__(self):
        return self

    def __exit__(self, _type, error, _tb):
        self.close(error)

    # -- the cluster -----------------------------------------------------------------------
    def detect_versions(self):
        """{node: version, or "none" where the product is not installed} read from every node at once
        (Product.installed_version); unreachable nodes fail with their reasons. The first contact: it
        opens the ssh connections, and says how long that took (connect_s)."""
        from drupgrade.transport import TransportError
        t0 = time.time()
        t = self.transport()
        prod = product.of(self.cfg)

        def one(node):
            try:
                return node, prod.installed_version(t, node) or "none", None
            except TransportError as e:  # its hint too: e.g. how to accept a changed host key
                return node, None, e.message + (" (%s)" % e.hint if e.hint else "")

        results = fanout.fan_out(self.cfg, one, self.cfg.nodes)
        self.connect_s = round(time.time() - t0, 3)
        bad = [(n, why) for n, _v, why in results if why]
        if bad:
            raise DrupgradeError(
                _("cannot reach every node: {nodes}").format(
                    nodes="; ".join("%s (%s): %s" % (n.name, n.host, why) for n, why in bad)),
                code=EXIT_FAILED, hint=_("check the network and the [ssh_config] of these nodes, "
                                         "then run the command again ('upgrade.sh nodes' shows each node)"))
        return {n.name: v for n, v, _w in results}

    def plan(self, target, mode):
        """(hops, upgrade mode, versions per node) for the whole cluster. The product's strategies
        and templates are read and validated (a tenth of a second of CPU) while the nodes answer."""
        self.plugins()  # a bad manifest: exit 2 before any node is touched
        warm = threading.Thread(target=self._read_catalog, daemon=True)
        warm.start()
        try:
            found = self.detect_versions()
        finally:
            warm.join()
        missing = sorted(n for n, v in found.items() if v == "none")
        if missing:
            raise DrupgradeError(_("no installed {product} found on: {nodes}").format(
                product=self.cfg.product_name, nodes=", ".join(missing)),
                                 code=EXIT_FAILED, hint=_("install the product on every node first"))
        hops, kind = self.plan_nodes(found, target, mode)
        self.strategies(hops)  # every hop has its strategy, or exit 2 before any run
        return hops, kind, found

    def plan_nodes(self, found, target, mode):
        """(hops, upgrade mode) that bring every node to target from its own version (mixed.plan_cluster:
        combined mode when the nodes differ), checked against the product's version-skew rule (exit 3).
        The plan per node stays in self.cluster_plan (plan's nodes_paths and order, the journal)."""
        prod = product.of(self.cfg)
        # The compatibility checks read each node's live state where it is at a hop's source (compat.py).
        self.compat = compat.Checker(self.cfg, self.transport(), prod, found)
        self.cluster_plan = mixed.plan_cluster(self.matrix(), found, target, mode, self.compat)
        rule = mixed.SkewRule(prod.data.get("version_skew"), "products/%s/product.json version_skew" % prod.name)
        self.cluster_plan = self.roll(self.cluster_plan, prod, rule)
        for text in rule.check(self.cluster_plan):
            out("warning", text)
        return self.cluster_plan.hops, self.cluster_plan.kind

    def roll(self, plan, prod, skew):
        """The cluster plan with the hops that roll split into their waves (drupgrade.rolling); why each
        hop that does not roll stops its nodes together is kept in plan.roll_reasons ({(src, dst): sentence})."""
        every = sorted(plan.found)
        roles = {n.name: list(n.roles) for n in self.cfg.nodes}
        reasons = {}

        def decide(_i, hop, names):
            strategy, _bound = strategies.for_hop(self.cfg.product_name, self.ctx.root, *hop)
            if not strategy.rolling:
                reasons[tuple(hop)] = rolling.why_not(prod.rolling, strategy, hop, roles, skew, [])
                return None
            if names != every:
                reasons[tuple(hop)] = _("a catch-up hop of a mixed cluster stops its nodes together")
                return None
            why = rolling.why_not(prod.rolling, strategy, hop, roles, skew, self.unsplit_migrations(prod, hop))
            if why:
                reasons[tuple(hop)] = why
                return None
            return prod.rolling.waves(roles)

        out = rolling.roll(plan, decide)
        out.roll_reasons = reasons
        return out

    def unsplit_migrations(self, prod, hop):
        """The migrations of the hop's target package that a rolling hop cannot run: those of its
        versions not declared expand or contract (drupgrade.rolling.unsplit); read from the package's
        member names (products/<name>/generator.json says where they are)."""
        from drupgrade import packages
        from drupgrade.generator import source
        path = packages.package_path(self.cfg, hop[1])
        try:
            found = rolling.package_migrations(path, source.hints(prod)["migrations"])
        except (OSError, tarfile.TarError) as e:
            return [_("the package {file} cannot be read ({reason})").format(file=path, reason=e)]
        return rolling.unsplit(found, *hop)

    # -- runs ------------------------------------------------------------------------------
    def current_journal(self):
        return Journal.current(self.current_path, self.runs_dir)

    def starts_over(self, journal):
        """A failed run whose failed steps all have a scope "run" policy (restart: the init phase)
        is finished for good: 'run' starts a new one, as the failure message says."""
        if journal.status != FAILED or not journal.data.get("failures"):
            return False
        retry = {s.name: s.retry for s in self.steps()}
        policies = self.policies()
        return all(retry.get(f.get("step")) in policies and policies[retry[f["step"]]].starts_over
                   for f in journal.data["failures"])

    def verify_packages(self, hops, journal=None):
        """Every hop's package, verified on the controller before any node changes (exit 2 when one
        fails; packages.verify_hops). With a journal (resume, retry) the packages must still be the
        ones the run started with: the nodes check the sha256 recorded then. {version: record}."""
        from drupgrade import packages
        found = packages.verify_hops(self.cfg, hops)
        if not self.cfg.section("packages").get("public_key"):
            out("warning", _(packages.UNSIGNED))
        for record in found.values():
            out("info", packages.describe(record))
        before = (journal.data.get("packages") or {}) if journal else {}
        for version, record in sorted(found.items()):
            old = before.get(version, {}).get("sha256")
            if old and old != record["sha256"]:
                raise DrupgradeError(
                    _("package {file} changed since run {run} started: its sha256 was {old}, it is now {new}").format(
                        file=record["file"], run=journal.data["run_id"], old=old, new=record["sha256"]),
                    code=EXIT_USAGE, hint=_("put the package the run started with back into [packages] repo, then "
                                            "run the command again; nothing was changed on any node"))
        if journal is not None and not before:
            journal.set(packages=found)  # a run journaled before packages were recorded
        return found

    def new_journal(self, target, hops, kind, found, packages):
        t = time.time()
        while True:  # unique: a run that starts over may begin within the second its predecessor did
            run_id = time.strftime("run_%Y%m%d_%H%M%S", time.localtime(t))
            if not os.path.exists(os.path.join(self.runs_dir, run_id)):
                break
            t += 1
        hop_nodes = self.cluster_plan.journal_nodes() if self.cluster_plan else None
        mixed_info = {"hop_nodes": hop_nodes} if hop_nodes else {}  # the nodes each hop upgrades (engine)
        hop_waves = rolling.journal_waves(self.cluster_plan) if self.cluster_plan else None
        if hop_waves:
            mixed_info["hop_waves"] = hop_waves  # the waves of the rolled hops (mixed.runs_in)
        journal = Journal.create(self.runs_dir, run_id, target=target, hops=[list(h) for h in hops],
                                       upgrade_mode=kind, versions_before=found, started=state.now_iso(),
                                       connect_s=self.connect_s, packages=packages, product=self.cfg.product_name,
                                       **mixed_info)
        state.atomic_write_json(self.current_path, {"run_id": run_id, "journal": journal.path})
        return journal

    def upgrade(self, journal):
        """The engine over the journal's run, with this command's NodeOps (the precheck's options,
        the node lock)."""
        from drupgrade.nodeops import NodeOps
        from drupgrade.precheck import PrecheckOptions
        log_dir = os.path.join(self.state_dir, "logs", journal.data["run_id"])
        ops = NodeOps(self.cfg, self.transport(), journal, self.ctx.root, out, precheck=PrecheckOptions.of(self.ctx))
        ops.holder = self.holder
        ops.plugins = self.plugins()
        up = engine.Upgrade(self.cfg, self.steps(), self.policies(), ops, journal, out, log_dir,
                            first_role=product.of(self.cfg).first_role, remaining=lambda: self.remaining(journal))
        up.plugin_budget = plugins.budget(ops.plugins)
        return up

    def discard_journal(self, journal, previous):
        """A run that never started (its nodes were refused): its journal goes, and the pointer
        names the run it named before (none: no pointer)."""
        shutil.rmtree(os.path.dirname(journal.path), ignore_errors=True)
        if previous:
            state.atomic_write_json(self.current_path, previous)
        elif os.path.exists(self.current_path):
            os.unlink(self.current_path)

    def execute(self, journal, only_phase=None, from_phase=None, retry=()):
        """Run (or continue) the journal's upgrade; the exit code of the command. retry: failed
        results (journal.Result) that 'upgrade.sh retry' prepares first by their policies."""
        up = self.upgrade(journal)
        with self.display(up, journal):
            return self._execute(up, journal, only_phase, from_phase, retry)

    def display(self, up, journal):
        """The live display of the run on a terminal (drupgrade.view: the nodes' table, the transfers,
        the summary at the end); nothing otherwise (the plain log lines)."""
        if self.ctx.console is None:
            return contextlib.ExitStack()  # nothing to enter
        from drupgrade import view

        def after():
            nodes = self.version_state(journal)["version_state"]["nodes"]
            return {n: v["current_version"].lstrip("v") for n, v in nodes.items()}
        return view.Display(self.ctx.console, view.RunPanel(up, journal, lambda: self.remaining(journal), after))

    def _execute(self, up, journal, only_phase, from_phase, retry):
        stop = threading.Event()  # version_state.json follows the run while it runs (status reads the journal)
        writer = threading.Thread(target=self._follow_version_state, args=(journal, stop), daemon=True)
        writer.start()
        try:
            up.retry_failed(retry)  # the run says failed until every failure is prepared: a kill -9 here
            journal.set(status=RUNNING, pid=os.getpid())  # leaves it to 'retry' again, never to 'resume'
            up.execute(only_phase=only_phase, from_phase=from_phase)
        except engine.PhaseFailed as e:
            failures = [{"node": f.node.name, "step": f.step.name, "reason": f.reason} for f in e.failures]
            point = self.auto_rollback_point(journal)
            if point:  # one write: a kill -9 from here on leaves a run whose rollback 'resume' finishes
                journal.set(status=ROLLING_BACK, failed_phase=e.phase, failures=failures,
                            auto_rollback={"backup_id": point})
            else:
                journal.set(status=FAILED, failed_phase=e.phase, failures=failures)
            self.report_failure(e, journal)
            return engine.exit_for(e)
        finally:
            stop.set()
            writer.join()
            self.write_version_state(journal)
        if only_phase or from_phase:
            journal.set(status=PARTIAL)
        out("info", _("upgrade finished: every node runs {version}").format(version=journal.data["target"]))
        if journal.status == DONE:
            self.retention(up.ops)
            self.write_version_state(journal)  # the backups retention removed
        return EXIT_OK

    def retention(self, ops):
        """[backup] keep after a completed run (its postcheck passed; the run still holds the lock):
        older backups and runs go. A problem here is said, never fails the run."""
        from drupgrade import retention
        keep = self.cfg.section("backup").get("keep", 0)
        if keep < 1:
            out("info", _("retention is off ([backup] keep = 0): every backup is kept"))
            return
        out("info", _("retention: keeping the {keep} newest complete backups ([backup] keep)").format(keep=keep))
        try:
            report = retention.Pruner(self.cfg, self.transport(), ops).prune(keep)
        except (DrupgradeError, OSError, ValueError) as e:
            LOG.debug("retention", exc_info=True)
            out("warning", _("retention failed: {detail}; nothing is lost, run 'bin/rollback_tool prune' "
                             "later").format(detail=getattr(e, "message", None) or str(e)))
            return
        for level, text in retention.lines(report, kept=False):
            out("warning" if level == "error" else level, _("retention: {text}").format(text=text))

    def auto_rollback_point(self, journal):
        """The backup an automatic rollback restores after a step failed for good ([run] on_failure =
        rollback, design §4.4, §4.7.2.1): the one taken before the run's first hop, once the
        controller holds every node's complete manifest of it (the backup phase is complete). None:
        the run stops as it is, for 'retry' or 'resume' (on_failure = stop, or the backup was not
        complete yet: nothing was changed but the services stopped)."""
        from drupgrade import catalog
        if self.cfg.run.get("on_failure") != "rollback":
            return None
        info = (journal.data.get("hop_info") or {}).get("hop1")
        if not info:
            return None
        known = catalog.Catalog(self.state_dir, [n.name for n in self.cfg.nodes])
        b = known.backups().get(info["backup_id"])
        return info["backup_id"] if b is not None and known.problem(b) is None else None

    def report_failure(self, e, journal):
        policies = self.policies()
        for f in e.failures:
            out("error", _("[{phase}] {step} failed on node {node}: {reason}").format(
                phase=e.phase, step=f.step.name, node=f.node.name, reason=f.reason))
            out("error", _("log: {path}").format(path=f.log or os.path.join(
                self.state_dir, "logs", journal.data["run_id"], f.node.name, f.step.name + ".log")))
        if journal.status == ROLLING_BACK:
            out("error", _("[run] on_failure = rollback: the backup {backup} is complete, so every node is rolled "
                           "back to it now (the version before run {run})").format(
                backup=journal.data["auto_rollback"]["backup_id"], run=journal.data["run_id"]))
            return
        for name in sorted({f.step.retry for f in e.failures}):
            out("error", _("retry policy {policy}: {summary}").format(policy=name, summary=policies[name].summary))
        if e.policy.starts_over:
            out("error", _("what to do: fix the cause, then start over with: bin/upgrade.sh run --to {target}").format(
                target=journal.data["target"]))
        elif e.policy.collects:  # every failure was collected (the precheck)
            out("error", _("what to do: fix every failure listed above, then: bin/upgrade.sh retry"))
        else:
            out("error", _("what to do: fix the cause, then: bin/upgrade.sh retry (the state is kept)"))

    # -- estimates (design §4.7.1.2, §4.7.3) ------------------------------------------------
    def estimates(self, hops, exclude=None, waves=None):
        """(units, run estimate, overhead) of a run over `hops` on today's nodes, from this
        controller's history (drupgrade.estimates; exclude: the run id being estimated): units are
        [(hop key, (src, dst) or None, step, Estimate)] in run order; overhead: the factor of the
        time between steps (Estimator.overhead)."""
        cache_key = (tuple(tuple(h) for h in hops), exclude, tuple(tuple(w) if w else None for w in waves or ()))
        if cache_key not in self._estimates:
            all_steps = self.steps()
            est = estimates.Estimator.load(self.runs_dir, self.cfg.product_name, all_steps,
                                           self.cfg.run["max_parallel"], exclude)
            found = [(k, hop, s, est.step(s, hop, estimates.node_count(s, self.cfg.nodes)))
                     for k, hop, s in estimates.units(all_steps, hops, steps.once_per_run, waves)]
            self._estimates[cache_key] = found, est.run([u[3] for u in found]), est.overhead
        return self._estimates[cache_key]

    def remaining(self, journal, now=None):
        """Seconds the journal's run still needs by the estimates: the steps not done everywhere,
        less what the running ones already took, times the controller's overhead; None without
        estimates."""
        now = time.time() if now is None else now
        data = journal.data
        found, total, overhead = self.estimates(data.get("hops", []), exclude=data.get("run_id"),
                                                waves=rolling.waves_of(data))
        if total.source == estimates.NONE:
            return None
        left = 0.0
        for hop_key, _hop, step, est in found:
            results = journal.results(hop=hop_key, steps=[step])
            need = estimates.node_count(step, self.cfg.nodes)
            if len([r for r in results if r.status == OK]) >= need:
                continue
            began = [estimates.parse_time(r.get("started")) for r in results if r.status == RUNNING]
            took = max([now - t for t in began if t is not None] or [0])
            left += max(0.0, est.seconds - took)
        return left * overhead

    # -- version_state (design §4.7.3) -----------------------------------------------------
    def version_state(self, journal, now=None):
        """The design's version_state of the journal's run: every field of its example with this
        run's values, the estimates from this controller's history (estimates())."""
        now = time.time() if now is None else now
        data = journal.data
        hops = data.get("hops", [])
        all_steps = self.steps()
        units, _total, _overhead = self.estimates(hops, exclude=data.get("run_id"), waves=rolling.waves_of(data))
        estimate = {(k, u.name): e for k, _h, u, e in units}
        completed, current = [], None
        for i, s in enumerate(all_steps, 1):
            for r in journal.results(steps=[s]):
                item = {"step_id": i, "step": s.name, "node": r.node, "hop": r.hop,
                        "description": s.summary, "status": {OK: "completed"}.get(r.status, r.status),
                        "duration": elapsed_text(r.get("elapsed", 0)), "attempts": r.get("attempts")}
                if r.get("plugins"):  # every run of its plugins: outcome, peak memory, CPU, duration
                    item["plugins"] = r.get("plugins")
                if r.status == RUNNING and current is None:
                    began = estimates.parse_time(r.get("started"))
                    took = max(0.0, now - began) if began is not None else 0.0
                    est = estimate.get((r.hop, s.name))
                    current = dict(item, elapsed_time=elapsed_text(took), estimated_time=est.text if est else None,
                                   progress="%d%%" % min(99, int(100 * took / est.seconds))
                                   if est and est.seconds > 0 else None)
                    del current["duration"]
                elif r.status in (OK, FAILED):
                    completed.append(item)
        hop_info = data.get("hop_info", {})
        post = [s for s in all_steps if s.phase == steps.phase_names()[-1]]  # a hop's last phase
        done_hops = set()
        for h in hop_info:
            checks = journal.results(hop=h, steps=post)
            if checks and all(r.status == OK for r in checks):
                done_hops.add(h)
        if journal.status == ROLLED_BACK:  # rollback_tool took the nodes back before the run
            done_hops = set()
        nodes = {}
        hop_nodes = data.get("hop_nodes") or {}
        for name, before in sorted(data.get("versions_before", {}).items()):
            cur = before
            for i, (_src, dst) in enumerate(hops):
                hop = "hop%d" % (i + 1)
                if hop in done_hops and name in hop_nodes.get(hop, [name]):
                    cur = dst
            nodes[name] = {"version_before": "v" + before, "current_version": "v" + cur,
                           "target_version": "v" + data.get("target", "")}
        status = {DONE: "completed", RUNNING: "in_progress", FAILED: "failed",
                  PARTIAL: "in_progress"}.get(journal.status, journal.status)
        points = [{"point_id": info["backup_id"], "version": "v" + info["from"],
                   "backup_status": self.backup_status(journal, h, info),
                   "description": _("full backup before {src} -> {dst}").format(src=info["from"], dst=info["to"])}
                  for h, info in sorted(hop_info.items(), key=lambda i: int(i[0][3:]))
                  if rolling.wave_hops(data, h)[0] == h]  # the waves of a rolled hop share one point
        completion = None
        if journal.status == DONE:
            completion = data.get("ended")
        elif journal.status == RUNNING:
            left = self.remaining(journal, now)
            completion = estimates.iso(now + left) if left is not None else None
        lowest = min((n["current_version"][1:] for n in nodes.values()), key=versions.key, default=None)
        return {"version_state": {
            "run_id": data.get("run_id"),
            "current_version": "v" + lowest if lowest else None,
            "target_version": "v" + data.get("target", ""),
            "upgrade_status": status,
            "upgrade_mode": data.get("upgrade_mode"),
            "path": rolling.path(hops),
            "start_time": data.get("started"),
            "estimated_completion": completion,
            "end_time": data.get("ended"),
            "completed_steps": completed,
            "current_step": current,
            "failures": data.get("failures", []) if journal.status == FAILED else [],
            "rollback_available": journal.status != ROLLED_BACK and any(p["backup_status"] == READY for p in points),
            "rollback_points": points,
            "nodes": nodes,
        }}

    def backup_status(self, journal, hop, info):
        """A rollback point's backup: ready while every node's manifest is kept (collect_manifest
        checked it complete and verified), removed once retention took it, in_progress once its hop
        began, else pending."""
        folder = os.path.join(self.state_dir, "backups", info["backup_id"])
        names = journal.data.get("versions_before", {})
        if names and all(os.path.isfile(os.path.join(folder, n + ".json")) for n in names):
            return READY
        if len(journal.results(hop=hop, steps=[MANIFEST_STEP], status=OK)) >= len(names) > 0:
            return "removed"
        return "in_progress" if journal.results(hop=hop) else "pending"

    def _follow_version_state(self, journal, stop):
        """version_state.json every STATE_EVERY seconds until `stop`; a write that fails is logged, never
        fails the run (the next one tries again)."""
        try:  # the history is read once, outside the journal's lock
            self.estimates(journal.data.get("hops", []), exclude=journal.data.get("run_id"),
                           waves=rolling.waves_of(journal.data))
        except (OSError, ValueError, DrupgradeError) as e:
            LOG.debug("estimates: %s", e)
        while not stop.wait(STATE_EVERY):
            try:
                with journal.lock:  # the engine's threads change the journal meanwhile
                    self.write_version_state(journal)
            except (OSError, ValueError, DrupgradeError) as e:
                LOG.debug("version_state.json: %s", e)

    def write_version_state(self, journal):
        state.atomic_write_json(os.path.join(self.state_dir, "version_state.json"), self.version_state(journal))
