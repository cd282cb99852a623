"""The upgrade run: phases of steps on nodes, bounded fan-out, retry policies, journal and resume.

Steps run step-major: one step on every node it concerns (in the order its Fanout asks), then
the next. On each node a hop's node steps are one detached run (`drstep chain`) with a gate before
each step that waits for other nodes (a cluster barrier, a later wave): the controller opens the
gate when the step may begin there, so a barrier costs no new ssh command. Every start and end
is in the journal before the run moves on, so `resume` after a crash re-attaches to a run still
going (or waiting at a gate) on a node, or re-verifies a step that was lost.
"""
import concurrent.futures
import hmac
import logging
import math
import os
import re
import threading
import time

from drupgrade import mixed, procs, safetext, state, timeouts
from drupgrade.errors import EXIT_CONFIRM, EXIT_FAILED, EXIT_LOCKED, EXIT_PRECHECK, DrupgradeError
from drupgrade.i18n import _
from drupgrade.journal import DONE, FAILED, OK, QUEUED, RUNNING
from drupgrade.ops import RunLost
from drupgrade.steps import once_per_run, phase_label, phase_names

log = logging.getLogger("drupgrade.engine")
WAIT_SLICE = 5  # seconds between progress checks of a running step
PLUGIN_FAILED = 86  # drstep chain: a plugin hooked to the step failed for good (scripts/bin/drplugin hook)


class ControllerNode:
    """Where the controller-only steps run: the control node itself."""

    name = "controller"
    roles = ["controller"]


class NodeLost(DrupgradeError):
    """Contact with a node was lost while one of its runs was followed (or an earlier attempt
    could not be confirmed ended): the run's state is unknown, so the journal keeps it running
    and the command ends; resume (or retry) re-attaches instead of starting another attempt."""


class NodeLocked(DrupgradeError):
    """The node lock refused a run (drstep: another holder, or the step already running there)."""

    def __init__(self, message, hint=None):
        super().__init__(message, code=EXIT_LOCKED, hint=hint)


_ERROR_WORDS = re.compile(r"error|fail|denied|cannot|can't|not |missing|refus|错误|失败|无法|不存在|不足", re.I)


def failure_line(text):
    """The line of a step's log that best says why it failed (stack frames left out), as text that
    is safe to show (node output: no control characters)."""
    lines = [ln.strip() for ln in safetext.clean(text).splitlines() if ln.strip() and not ln.startswith("    at ")]
    lines = [ln for ln in lines if "command failed (rc=" not in ln and "命令失败" not in ln] or lines
    for ln in reversed(lines):
        if _ERROR_WORDS.search(ln):
            return ln[-300:]
    return lines[-1][-300:] if lines else ""


def log_name(step_name, hop, suffix=".log"):
    """The file name of a step's log on the controller (in logs/<run>/<node>/): hop 1 and the run's
    own steps `<step>.log`, hop N >= 2 `<step>.hopN.log`, so that no hop overwrites another's."""
    m = re.match(r"hop(\d+)$", hop or "")
    return step_name + (".hop%s" % m.group(1) if m and int(m.group(1)) >= 2 else "") + suffix


class StepFailure:
    """A step that failed on a node: its exit code, the reason, and the log of that attempt."""

    def __init__(self, node, step, rc, reason, log=None):
        self.node, self.step, self.rc, self.reason, self.log = node, step, rc, reason, log


class PhaseFailed(Exception):
    def __init__(self, phase, failures, policy):
        super().__init__(phase)
        self.phase, self.failures, self.policy = phase, failures, policy


class Upgrade:
    """One run of the upgrade over the cluster, driven by its journal (drupgrade.journal)."""

    def __init__(self, cfg, steps, policies, ops, journal, out, log_dir, first_role=None, remaining=None):
        self.cfg = cfg
        self.remaining = remaining or (lambda: None)  # the run's estimated seconds left (Runner.remaining)
        self._local = {}  # (hop, step, node) -> the thread of a controller step's latest attempt
        self.first_role = first_role  # where a primary-first step starts (the product's role marked first)
        self.steps = steps
        self.policies = policies  # {name: retry_policy.RetryPolicy}
        self.ops = ops  # ops.NodeOpsBase
        self.journal = journal
        self.out = out  # callable(level, text): the console
        self.log_dir = log_dir
        self.max_parallel = cfg.run["max_parallel"]
        self.runs = None  # the hop's node runs (_NodeRuns) while a hop runs
        self.plugin_budget = {}  # {step: seconds its plugins may add to its timeout} (plugins.budget)
        self.interrupted = threading.Event()  # Ctrl-C: stop waiting, the runs go on detached
        self._ended = set()  # (node, run key) of runs known ended (rc seen, or stopped and confirmed)
        # What the operator does after a lost link (the rollback tool says its own command).
        self.resume_hint = _("run 'bin/upgrade.sh resume' when the link is back: it re-attaches to the "
                             "step instead of starting it again")

    # -- the run --------------------------------------------------------------------------
    def execute(self, only_phase=None, from_phase=None):
        """Run every phase (each hop's phases for the hop phases); raises PhaseFailed."""
        hops = self.journal.data["hops"]
        names = phase_names()
        start = names.index(from_phase) if from_phase else 0
        phases = [p for p in names[start:] if not only_phase or p == only_phase]
        for phase in phases:
            if once_per_run(phase):
                self.run_phase(phase, "run", None)
        for i, (src, dst) in enumerate(hops):
            hop = "hop%d" % (i + 1)
            self.journal.hop_info(hop, src, dst)
            hop_phases = [p for p in phases if not once_per_run(p)]
            # One run per node for all of the hop's node steps: a phase boundary is one more gate.
            runs = self.runs = _NodeRuns(self, hop, (src, dst), [s for s in self.steps if s.phase in hop_phases])
            try:
                for phase in hop_phases:
                    self.journal.set(position={"hop": hop, "from": src, "to": dst, "phase": phase})
                    self.run_phase(phase, hop, (src, dst))
            except PhaseFailed:
                runs.close()  # nothing left waiting at a gate: retry and rollback start afresh
                raise
            finally:
                self.runs = None
            runs.close()  # a partial run (--only-phase) leaves nothing waiting either
        self.journal.set(status=DONE, ended=state.now_iso())

    def run_phase(self, phase, hop, versions):
        steps = [s for s in self.steps if s.phase == phase]
        self.out("info", "[%s] %s" % (phase, phase_label(phase)))
        collected = []
        for step in steps:
            failures = self.run_step_everywhere(step, hop, versions)
            policy = self.policies[step.retry]
            if failures and policy.collects:
                collected += failures  # precheck: collect everything, then fail the phase as a whole
                continue
            while failures:
                failures = self.apply_policy(step, hop, versions, failures, policy)
                if failures:
                    raise PhaseFailed(phase, failures, policy)
                failures = self.run_step_everywhere(step, hop, versions)  # waves a failure held back
        if collected:
            raise PhaseFailed(phase, collected, self.policies[collected[0].step.retry])

    # -- groups: consecutive steps that need only their own node's earlier steps -------------
    def groups(self, steps):
        """The phase's steps cut at every cluster barrier: within a group a node goes from one
        step to its next without waiting for the other nodes."""
        groups = []
        for step in steps:
            if groups and step.barrier == "node" and self._chainable(groups[-1][-1]) and self._chainable(step):
                groups[-1].append(step)
            else:
                groups.append([step])
        return groups

    def _chainable(self, step):
        return not step.local and step.fanout == "parallel" and self.policies[step.retry].retries_alone

    def nodes_for(self, step, hop=None):
        """The nodes the step runs on: its roles, and in a hop only the nodes the hop upgrades (on_node)."""
        if "controller" in step.roles:
            return [ControllerNode()]
        return [n for n in self.cfg.nodes if self.on_node(step, n, hop)]

    def on_node(self, step, node, hop):
        """The step runs on the node in this hop: its roles say so, and the hop upgrades the node (in a
        mixed cluster a hop upgrades only some nodes: drupgrade.mixed; hop None or "run": every node),
        or, in a wave of a rolled hop, the step's Rolling scope takes it there (mixed.runs_in)."""
        return step.runs_on(node) and (hop in (None, "run") or mixed.runs_in(
            self.journal.data, hop, node.name, step.rolling))

    def run_step_everywhere(self, step, hop, versions, nodes=None):
        """The step on each node it concerns, in the order its Fanout asks; failures returned."""
        nodes = self.nodes_for(step, hop) if nodes is None else nodes
        fanout = getattr(step, "fanout", "parallel")
        if fanout == "serial":
            waves = [[n] for n in nodes]
        elif fanout == "primary-first":
            first = [n for n in nodes if self.first_role in n.roles]
            waves = [first, [n for n in nodes if n not in first]]
        else:
            waves = [nodes]
        failures = []
        for wave in waves:
            wave = [n for n in wave if self.journal.result(hop, step, n).status != OK]
            if not wave:
                continue
            width = min(self.max_parallel, len(wave))
            with concurrent.futures.ThreadPoolExecutor(max_workers=width) as pool:
                futures = [pool.submit(self.run_on_node, step, hop, versions, n) for n in wave]
                try:
                    failures += [f.result() for f in futures if f.result() is not None]
                except BaseException:  # Ctrl-C: the waits end now, the runs go on on the nodes
                    self.interrupted.set()
                    self.journal.notify()
                    raise
            if failures and fanout != "parallel":
                break  # a later wave depends on this one
        return failures

    def run_on_node(self, step, hop, versions, node):
        """One step on one node, resuming what the journal says; None when it succeeded."""
        if self.journal.result(hop, step, node).status == OK:
            return None
        if step.local:
            return self._run_local(step, hop, versions, node)
        if self.runs is not None:
            return self.runs.run(node, step)
        return self.run_steps(hop, versions, node, [step])  # outside a phase (rollback): a run of its own

    def _run_local(self, step, hop, versions, node):
        """A controller step (uploads, manifests): idempotent, simply run again, in a thread of its
        own under the same watch as a node step (§4.3: progress, the 85 %/95 % warnings, the timeout
        block). Past its timeout the attempt fails (exit 124); a thread cannot be killed, so the
        next attempt of the step for the node first waits until the earlier one has ended."""
        key = (hop, step.name, node.name)
        what = "[%s] %s %s" % (step.phase, node.name, step.name)
        earlier = self._local.get(key)
        if earlier is not None and earlier.is_alive():
            self.out("warning", _("{what}: waiting until the attempt that timed out has ended").format(what=what))
            earlier.join()
        self.journal.begin(hop, node, step, local=True)
        t0 = time.time()
        outcome = {}

        def work():
            try:
                outcome["rc"] = self.ops.local(node, step, hop, versions)
            except DrupgradeError as e:
                outcome["rc"], outcome["reason"] = EXIT_FAILED, e.message
            except BaseException as e:  # noqa: BLE001 - raised again by the thread that waits
                outcome["error"] = e
        worker = self._local[key] = threading.Thread(target=work, name="local-%s-%s" % (step.name, node.name),
                                                     daemon=True)
        worker.start()
        watch = timeouts.Watch(self.cfg.timeouts.get(step.name, step.timeout), what)
        while True:
            worker.join(min(WAIT_SLICE, watch.next_due(time.time() - t0) + 0.05))
            if self.interrupted.is_set():
                raise KeyboardInterrupt
            elapsed = time.time() - t0
            if not worker.is_alive():
                break
            self._tick(watch, elapsed, hop, step, node)
            if watch.resources_due(elapsed):
                self.out("info", "%s: %s" % (what, timeouts.resources_line(procs.facts())))
            if elapsed >= watch.timeout:
                return self._local_timed_out(hop, step, node, watch.timeout, elapsed)
        if "error" in outcome:
            raise outcome["error"]
        if "reason" in outcome:
            self.journal.note(hop, step, node, reason=outcome["reason"])
        self.journal.note(hop, step, node, elapsed=round(time.time() - t0, 3))
        return self.finish(hop, step, node, outcome["rc"])

    def _local_timed_out(self, hop, step, node, timeout, elapsed):
        """A controller step past its timeout: the block of §4.3.2 with the controller's own
        figures, its context (threads, child processes) saved beside its log, and what it started on
        the nodes ended; failed, exit 124."""
        context = self.log_path(node, step, hop, ".timeout-context.txt")
        with open(context, "w", encoding="utf-8") as f:
            f.write(procs.context())
        try:
            self.ops.cancel_local(node, step)
        except DrupgradeError as e:
            self.out("warning", _("{node} {step}: what the step started on the nodes could not be ended: "
                                  "{detail}").format(node=node.name, step=step.name, detail=e.message))
        latency = None if isinstance(node, ControllerNode) else self.ops.latency_ms(node)  # an upload: its node
        for line in timeouts.timeout_block(node.name, step.phase, step.summary, step.kind, step.subject, timeout,
                                           elapsed, procs.facts(), context, latency, procs.usage()):
            self.out("error", line)
        self.journal.note(hop, step, node, elapsed=round(elapsed, 3), reason=_(
            "timed out after {secs}s (timeout {timeout}s)").format(secs=int(elapsed), timeout=int(timeout)))
        return self.finish(hop, step, node, 124)

    def progress(self):
        """(done, total): the run's steps done everywhere they run, and in all (each hop's own)."""
        hops = ["hop%d" % (i + 1) for i in range(len(self.journal.data.get("hops", [])))]
        units = [("run", s) for s in self.steps if once_per_run(s.phase)]
        units += [(h, s) for h in hops for s in self.steps if not once_per_run(s.phase)]
        done = 0
        for hop, step in units:
            nodes = self.nodes_for(step)
            if nodes and all(self.journal.result(hop, step, n).status == OK for n in nodes):
                done += 1
        return done, len(units)

    def _tick(self, watch, elapsed, hop, step, node):
        """What the step's watch says now (§4.3), with the run's progress and estimate when due; its
        warnings are counted in the step's result (the live display shows them per node)."""
        counts = {}
        if watch.talks(elapsed):
            counts["done"], counts["total"] = self.progress()
            counts["remaining"] = self.remaining()
        for level, text in watch.tick(elapsed, **counts):
            self.out(level, text)
            if level in ("warning", "critical"):
                self.journal.note(hop, step, node, warnings=self.journal.result(hop, step, node).get("warnings", 0) + 1)

    def run_steps(self, hop, versions, node, steps, gates=()):
        """Node steps in order as one detached run (`drstep chain`, a gate before each step named
        in `gates`), or the re-attach to the run the journal saw start; the first failure, or None.
        A new run starts only once every earlier attempt of its steps is confirmed ended (settle)."""
        while True:
            pending = self.journal.pending(hop, node, steps)
            if not pending:
                return None
            first = pending[0]
            entry = self.journal.result(hop, first, node)
            started_here = not (entry.status in (RUNNING, QUEUED) and entry.run)
            try:
                if started_here:  # the steps after the first are journaled queued, in the same write
                    self.settle(hop, node, pending)
                    run_key = self.begin(hop, node, first, queued=pending[1:]).run
                    self.ops.start(node, pending, run_key, hop, versions,
                                   gates=[s.name for s in pending[1:] if s.name in gates],
                                   nonce=self.journal.nonce(run_key))
                else:
                    run_key = entry.run
                    self.out("info", _("[{phase}] {node} {step}: re-attaching to the run started before the "
                                       "interruption").format(phase=first.phase, node=node.name, step=first.name))
                return self._follow(hop, node, run_key, pending)
            except RunLost as e:
                if not started_here:
                    self._lost(hop, node, pending)
                    continue  # what is left runs again as a new run
                reason = _("the step's run was lost on node {node}: {detail}").format(node=node.name, detail=e)
            except (NodeLost, NodeLocked):
                raise
            except DrupgradeError as e:  # the link is gone past its reconnect budget: the run's state is unknown
                step = self.journal.running_step(hop, node, pending)
                raise NodeLost(_("lost contact with node {node} during step {step}; the step may still be "
                                 "running there ({detail})").format(node=node.name, step=step.name, detail=e.message),
                               hint=self.resume_hint) from None
            step = self.journal.running_step(hop, node, pending)
            self.journal.note(hop, step, node, reason=reason)
            return self.finish(hop, step, node, EXIT_FAILED)

    def settle(self, hop, node, steps):
        """One attempt of a step at a time (H3): every earlier run of these steps on the node that
        may still live is asked for and, if alive, stopped (a chain at a gate told to stop, else
        SIGTERM to its session, a grace period, SIGKILL) and confirmed gone. Raises NodeLost when
        the node cannot tell: nothing new starts there then."""
        keys = []
        for s in steps:
            run_key = self.journal.result(hop, s, node).run
            if run_key and (node.name, run_key) not in self._ended and run_key not in keys:
                keys.append(run_key)
        for run_key in keys:
            try:
                info = self.ops.settle(node, run_key)
            except DrupgradeError as e:
                raise NodeLost(_("cannot confirm on node {node} that the earlier run {run} has ended "
                                 "({detail}); nothing new was started there").format(
                    node=node.name, run=run_key, detail=e.message), hint=self.resume_hint) from None
            if info.get("signal", "none") != "none":
                self.out("warning", _("{node}: the earlier run {run} was still alive; it was stopped ({how}) "
                                      "before the next attempt").format(node=node.name, run=run_key,
                                                                         how=info["signal"]))
            self._ended.add((node.name, run_key))

    def begin(self, hop, node, step, run_key=None, queued=()):
        """A new attempt of a node step, journaled (Journal.begin); the earlier attempt's log is
        kept beside it. Its journal.Result."""
        result = self.journal.begin(hop, node, step, run_key, queued)
        logfile = self.log_path(node, step, hop)
        if result.attempts > 1 and os.path.exists(logfile):
            os.replace(logfile, self.log_path(node, step, hop, ".attempt%d.log" % (result.attempts - 1)))
        return result

    def _lost(self, hop, node, pending):
        """The node has no trace of the run the journal saw start: re-verify, never trust."""
        step = self.journal.running_step(hop, node, pending)
        if self.ops.check(node, step, hop):
            self.out("info", _("[{phase}] {node} {step}: the earlier run is gone, but the step "
                               "is already done").format(phase=step.phase, node=node.name, step=step.name))
            self.finish(hop, step, node, 0)
        else:
            self.journal.mark_retry(hop, [step], [node])

    def _follow(self, hop, node, run_key, pending):
        """Follow a run of `pending` (in order) with the timeout watch of §4.3 for the step
        running; its marker lines journal each step's start and end. The first failure or None."""
        run = RunLog(self, hop, node, run_key, pending, self.journal.nonce(run_key))
        try:
            return self._follow_run(hop, node, run_key, run)
        finally:
            run.sink.close()

    def _follow_run(self, hop, node, run_key, run):
        while True:
            step, watch, started = run.step, run.watch, run.started
            waiting = run.waiting()  # at a gate: no step runs, nothing can time out
            slice_ = WAIT_SLICE if waiting else min(WAIT_SLICE, watch.next_due(time.time() - started) + 0.05)
            rc = self.ops.wait(node, run_key, slice_, run.feed)
            if rc is not None:
                self._ended.add((node.name, run_key))
                return run.close(rc)
            if run.step is not step or waiting or run.waiting():
                continue  # the next step began (its own watch), or the run waits at a gate
            elapsed = time.time() - started
            self._tick(watch, elapsed, hop, step, node)
            if watch.resources_due(elapsed):
                self.out("info", "[%s] %s: %s" % (step.phase, node.name, timeouts.resources_line(
                    self.ops.resources(node, step))))
            if elapsed >= watch.timeout:
                self._timed_out(hop, step, node, run_key, watch.timeout, elapsed)
                run.close(None)
                return self.finish(hop, step, node, 124)

    def finish(self, hop, step, node, rc, **fields):
        """The step's current attempt on the node ended with exit code rc: journaled
        (Journal.finish) and said; its StepFailure (the reason: the journal's, else the best
        line of its log), or None when it succeeded."""
        result = self.journal.finish(hop, step, node, rc, **fields)
        mark = "✓" if rc == 0 else "✗"
        self.out("info" if rc == 0 else "error", "[%s] %s %s: %s %s" % (
            step.phase, node.name, step.name, step.summary, mark))
        if rc == 0:
            return None
        reason = result.reason
        if not reason:
            try:
                with open(self.log_path(node, step, hop), encoding="utf-8", errors="replace") as f:
                    reason = failure_line(f.read())
            except OSError:
                reason = ""
            reason = _("exit code {rc}").format(rc=rc) + (": " + reason if reason else "")
            self.journal.note(hop, step, node, reason=reason)
        return StepFailure(node, step, rc, reason, log=self.log_path(node, step, hop))

    def _timed_out(self, hop, step, node, run_key, timeout, elapsed):
        facts = self.ops.resources(node, step)
        context = self.log_path(node, step, hop, ".timeout-context.txt")
        with open(context, "w", encoding="utf-8") as f:
            f.write(self.ops.context(node, step, run_key))
        block = timeouts.timeout_block(node.name, step.phase, step.summary, step.kind, step.subject,
                                       timeout, elapsed, facts, context, self.ops.latency_ms(node), procs.usage())
        for line in block:
            self.out("error", line)
        self.ops.settle(node, run_key)  # TERM, grace, KILL, confirmed gone: only then is it failed
        self._ended.add((node.name, run_key))
        self.journal.note(hop, step, node, reason=_("timed out after {secs}s (timeout {timeout}s)").format(
            secs=int(elapsed), timeout=int(timeout)))

    def log_path(self, node, step, hop, suffix=".log"):
        """Where the step's log on the node in that hop is kept on the controller (log_name; the
        folder made on first use)."""
        d = os.path.join(self.log_dir, node.name)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, log_name(step.name, hop, suffix))

    # -- retry policies (design §4.2.2; drupgrade.retry_policy) ------------------------------------
    def apply_policy(self, step, hop, versions, failures, policy):
        """Automatic retries by the policy's data; the failures that remain are returned. A step
        whose plugin failed for good (PLUGIN_FAILED) is not retried: the plugin's type had its
        attempts already (docs/plugins.md)."""
        if all(f.rc == PLUGIN_FAILED for f in failures):
            return failures
        for n in range(policy.auto_retries):
            self.out("warning", _("[{phase}] {step} failed on {nodes}; policy {policy}: {summary} "
                                  "(automatic retry {n}/{total} in {delay}s)").format(
                phase=step.phase, step=step.name, nodes=", ".join(f.node.name for f in failures),
                policy=policy.name, summary=policy.summary, n=n + 1, total=policy.auto_retries,
                delay=policy.delay))
            time.sleep(policy.delay)
            failures = self.retry(step, hop, versions, failures, policy)
            if not failures:
                return []
        return failures

    def retry(self, step, hop, versions, failures, policy):
        """One automatic retry of the failed step: prepared by its policy (prepare_retry), then
        the steps it says run again, up to the failed step; the failures that remain."""
        plan, blocked = self.prepare_retry(step, hop, [f.node for f in failures], policy)
        if not plan.together:
            ready = [n for n in plan.nodes if n.name not in {f.node.name for f in blocked}]
            return blocked + (self.run_step_everywhere(step, hop, versions, ready) if ready else [])
        if blocked:
            return blocked  # no restart while a node could not be cleaned up: the operator decides
        for s in plan.redo:
            failures = self.run_step_everywhere(s, hop, versions)
            inner = self.policies[s.retry]
            if failures and not inner.restarts:
                failures = self.apply_policy(s, hop, versions, failures, inner)
            if failures:
                return failures  # a restart inside a restart is not tried: the operator decides
            if s is step:
                break
        return []

    def retry_failed(self, failed):
        """'upgrade.sh retry': each failed result (journal.Result) prepared by its step's policy
        exactly as an automatic retry is (prepare_retry); execute() then runs what the journal
        says is left. A cleanup that fails ends it as the failed phase it is (PhaseFailed)."""
        by_name = {s.name: s for s in self.steps}
        todo = []  # (hop, step name, [node names]) in the journal's order
        for r in failed:
            if not todo or todo[-1][:2] != (r.hop, r.step):
                todo.append((r.hop, r.step, []))
            todo[-1][2].append(r.node)
        for hop, name, names in todo:
            step = by_name[name]
            policy = self.policies[step.retry]
            nodes = [n for n in self.nodes_for(step, hop) if n.name in names]
            for node in nodes:
                self.out("info", _("retrying {step} on {node}: {summary}").format(
                    step=name, node=node.name, summary=policy.summary))
            _plan, blocked = self.prepare_retry(step, hop, nodes, policy)
            if blocked:
                raise PhaseFailed(step.phase, blocked, policy)

    def prepare_retry(self, step, hop, failed_nodes, policy):
        """The one interpreter of a retry policy (retry_policy.RetryPlan), for the automatic retries and
        'upgrade.sh retry' alike: on each node the retry touches, every earlier attempt of the
        steps to run again confirmed ended (settle; a node that cannot tell ends the command,
        NodeLost), then the cleanup the policy names; then those steps marked in the journal to run
        again as new attempts. (plan, blocked): a cleanup that fails is a failed attempt (its
        reason said), never an internal error; when the nodes restart together it holds the
        restart back everywhere (nothing marked)."""
        plan = policy.plan(step, [s for s in self.steps if s.phase == step.phase], failed_nodes,
                           lambda s: self.nodes_for(s, hop))
        if plan.together and self.runs is not None:
            self.runs.close()  # the other nodes' runs wait at a gate: the restart starts new ones
        blocked = []
        for node in plan.nodes:
            if plan.cleans(node) and plan.environment:
                self.out("warning", _("[{phase}] {node}: full environment cleanup before restarting at "
                                      "{step}").format(phase=step.phase, node=node.name, step=plan.cleanup.name))
            self.settle(hop, node, [s for s in plan.redo if self.on_node(s, node, hop)])
            failure = self._cleanup(hop, node, plan.cleanup) if plan.cleans(node) else None
            if failure:
                blocked.append(failure)
        if blocked and plan.together:
            return plan, blocked
        if plan.together:
            self.journal.mark_retry(hop, plan.redo)
        else:
            held = {f.node.name for f in blocked}
            self.journal.mark_retry(hop, [step], [n for n in plan.nodes if n.name not in held])
        if policy.restarts:
            self.journal.record(event="restart_at", hop=hop, step=plan.redo[0].name)
        return plan, blocked

    def _cleanup(self, hop, node, step):
        """The step's cleanup on the node; a failure of the attempt when it fails (its reason
        journaled), else None."""
        try:
            self.ops.cleanup(node, step, hop)
        except DrupgradeError as e:
            if self.journal.result(hop, step, node).exists:
                self.journal.note(hop, step, node, reason=e.message)
            return StepFailure(node, step, EXIT_FAILED, e.message, log=self.log_path(node, step, hop))
        return None


class _NodeRun:
    """One node's run in a hop, as the controller follows it."""

    def __init__(self, journal, hop, node, steps, gates):
        self.node, self.names, self.gates, self.future = node, [s.name for s in steps], gates, None
        self.attempts = journal.attempts(hop, node, steps)  # which attempts began in this run


class _NodeRuns:
    """A hop's node steps as one detached run per node (`drstep chain` with gates). run()
    lets a step begin on a node: it opens the step's gate in the node's run (or starts a run of
    the node's steps from that step, or re-attaches to the run the journal names) and waits
    until the step ended there. A node goes on to its next step without asking only inside a
    group (Barrier: node); before any other step its run waits at a gate."""

    def __init__(self, up, hop, versions, steps):
        self.up, self.hop, self.versions = up, hop, versions
        self.journal = up.journal
        self.steps = [s for s in steps if not s.local]
        self.groups = [g for phase in phase_names() for g in up.groups([s for s in self.steps if s.phase == phase])]
        # Fan-out bound below the node count: every step waits for its gate, so at most
        # max_parallel nodes work at once even inside a group.
        self.strict = up.max_parallel < len(up.cfg.nodes)
        self.live = {}  # node name -> _NodeRun

    def gates(self, node):
        """The steps the node's run waits at: its first step of every group (or every step)."""
        names = set()
        for group in self.groups:
            mine = [s.name for s in group if self.up.on_node(s, node, self.hop)]
            names.update(mine if self.strict else mine[:1])
        return names

    def run(self, node, step):
        """The step on the node (inside the node's run); its failure, or None."""
        for _again in range(3):
            run = self.live.get(node.name)
            if run is None or step.name not in run.names or (run.future.done() and not run.attempts.began(step)):
                run = self._start(node, step)
            elif step.name in run.gates and not run.attempts.began(step):
                self._open(node, step)
            ended, failure = self._await(step, run)
            if ended:
                run.attempts.reported(step)
                return failure
        # Three runs ended without reaching the step (lost, stopped): say so instead of looping.
        self.journal.note(self.hop, step, node, reason=_(
            "the step's run ended on node {node} before the step began").format(node=node.name))
        return self.up.finish(self.hop, step, node, EXIT_FAILED)

    def _start(self, node, step):
        """A run of the node's steps from `step` (or the re-attach to the run the journal names)."""
        mine = [s for s in self.steps if self.up.on_node(s, node, self.hop)]
        steps = mine[mine.index(step):]
        entry = self.journal.result(self.hop, step, node)
        reattach = entry.status in (RUNNING, QUEUED) and entry.run
        gates = {s.name for s in steps} if reattach else self.gates(node)
        if reattach:  # it may wait at this step's gate (harmless if it does not)
            self._open(node, step)
        run = self.live[node.name] = _NodeRun(self.journal, self.hop, node, steps, gates)
        run.future = concurrent.futures.Future()
        run.future.add_done_callback(lambda _future: self.journal.notify())

        def follow():
            try:
                run.future.set_result(self.up.run_steps(self.hop, self.versions, node, steps, gates))
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the step
                run.future.set_exception(e)
        # A daemon thread: a run may wait at a gate for hours; Ctrl-C must not wait for it.
        threading.Thread(target=follow, name="follow-%s" % node.name, daemon=True).start()
        return run

    def _open(self, node, step):
        """Open the step's gate in the run the journal says it is queued in."""
        entry = self.journal.result(self.hop, step, node)
        if entry.run and entry.status in (QUEUED, RUNNING):
            try:
                self.up.ops.open_gate(node, entry.run, step.name)
            except DrupgradeError as e:  # the follower meets the same link: it reconnects or fails
                log.warning("%s", e.message)

    def _await(self, step, run):
        """Wait until the step ended in the run, or the run ended first: (ended, failure)."""
        with self.journal.changed:
            while self.journal.result(self.hop, step, run.node).status != OK and not run.future.done():
                if self.up.interrupted.is_set():
                    raise KeyboardInterrupt
                self.journal.changed.wait(1.0)
        entry = self.journal.result(self.hop, step, run.node)
        if entry.status == OK:
            return True, None
        failure = run.future.result()  # the run's first failure (its exception, if it raised)
        if failure is not None and failure.step is step:
            return True, failure
        if entry.status == FAILED and run.attempts.began(step):
            return True, StepFailure(run.node, step, entry.get("rc", EXIT_FAILED), entry.get("reason", ""),
                                     log=self.up.log_path(run.node, step, self.hop))
        return False, None

    def close(self):
        """Wind the runs down: each ends before its next step (never in the middle of one)."""
        for run in self.live.values():
            if run.future.done():
                continue
            keys = {self.journal.result(self.hop, s, run.node).run for s in self.steps if s.name in run.names}
            for run_key in keys - {None}:
                try:
                    self.up.ops.stop_run(run.node, run_key)
                except DrupgradeError as e:
                    log.warning("%s", e.message)
        for run in self.live.values():
            try:
                run.future.result()
            except Exception as e:  # noqa: BLE001 - the failure being reported matters more
                log.warning("following node %s: %s", run.node.name, e)
        self.live = {}


MARK = b"@@DRUPGRADE@@ "
LINE_MAX = 64 * 1024  # a longer line without a newline goes to the step's log in pieces
STOPPED = 75  # drstep chain: ended at a step boundary (the stop file) or gave up at a gate
# Marker kinds and their fields after the nonce (see `drstep chain`).
_MARKERS = {b"begin": ("name", "epoch"), b"end": ("name", "rc", "epoch"), b"gate": ("name", "epoch"),
            b"stopped": ("name", "epoch")}
# A plugin's run around a step (drstep::hooks; docs/plugins.md): after the step's name.
PLUGIN_FIELDS = ("plugin", "attempt", "rc", "reason", "peak_memory_kb", "cpu_ms", "duration_ms", "outcome")
PLUGIN_OUTCOMES = ("ok", "retry", "skipped", "failed")
_PLUGIN_WORD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def plugin_record(words):
    """The fields of a plugin marker (bytes after the step's name) as a dict, or ValueError."""
    if len(words) != len(PLUGIN_FIELDS):
        raise ValueError(words)
    rec = dict(zip(PLUGIN_FIELDS, (w.decode("ascii") for w in words)))
    for k in ("attempt", "rc", "peak_memory_kb", "cpu_ms", "duration_ms"):
        rec[k] = int(rec[k])
        if rec[k] < 0:
            raise ValueError(k)
    if not (_PLUGIN_WORD.match(rec["plugin"]) and _PLUGIN_WORD.match(rec["reason"])
            and rec["outcome"] in PLUGIN_OUTCOMES and rec["rc"] <= 255):
        raise ValueError(words)
    return rec


class RunLog:
    """A run's log as it streams in: `drstep chain` marker lines journal each step's start and
    end; the bytes between them go to that step's log file. A re-attach streams the log again
    from its first byte: what the journal has already is not journaled again; the steps done
    before `pending` (their logs complete already) are passed over in silence.

    A marker counts only at the start of a line and with this run's secret nonce (H2): a step's
    output can print anything, but it cannot learn the nonce. Anything else that looks like a
    marker (no nonce, another nonce, bad fields, unknown step) is logged and kept as output."""

    def __init__(self, up, hop, node, run_key, pending, nonce):
        self.up, self.hop, self.node, self.run_key = up, hop, node, run_key
        self.journal = up.journal
        self.nonce = nonce.encode("ascii")
        self.by_name = {s.name: s for s in pending}
        self.done_before = {s.name: s for s in up.steps if not s.local and up.on_node(s, node, hop) and s.name not in
                            self.by_name and self.journal.result(hop, s, node).status == OK}  # of this hop
        self.buf = b""
        self.partial = False  # the buffer continues a line already written out (too long): no marker
        self.sink = None
        self.failure = None
        self.begun = {}  # step name -> node time of its begin marker
        self.last = None  # the step whose begin marker came last
        self.locked = None  # the node lock's refusal (a `locked` marker)
        self.forged = 0
        self.profile = "control"  # the connection profile its run is followed over (_enter)
        self.pending = pending
        self._enter(self.journal.running_step(hop, node, pending))

    def waiting(self):
        """True while no step of the run is running: between steps, or at a gate."""
        return not self.journal.result(self.hop, self.step, self.node).in_run(self.run_key, RUNNING)

    def _enter(self, step):
        """The step the next log bytes belong to; its own timeout watch starts now."""
        self.step = step
        self.watch = timeouts.Watch(self.up.cfg.timeouts.get(step.name, step.timeout) +
                                    self.up.plugin_budget.get(step.name, 0),  # its plugins' runs too
                                    "[%s] %s %s" % (step.phase, self.node.name, step.name))
        # a step with plugins is followed over the plugin connection profile (§4.6.1), the others over control
        profile = "plugin" if step.name in self.up.plugin_budget else "control"
        if profile != self.profile:
            self.up.ops.follow_with(self.node, self.run_key, profile)
        self.profile = profile
        self.started = time.time()
        if self.sink:
            self.sink.close()
        self.sink = open(self.up.log_path(self.node, step, self.hop), "wb")

    def feed(self, data):
        lines = (self.buf + data).split(b"\n")
        self.buf = lines.pop()
        for line in lines:
            if self.partial:  # the end of a line too long to wait for
                self.partial = False
                self.sink.write(line + b"\n")
            else:
                self._line(line + b"\n")
        if len(self.buf) > LINE_MAX:  # never hold an endless line in memory
            self.sink.write(self.buf)
            self.buf = b""
            self.partial = True

    def _marker(self, line):
        """(kind, step, fields) of a true marker line, else None (the step's own output)."""
        words = line[len(MARK):].split()
        if not words or not hmac.compare_digest(words[0], self.nonce):
            self.forged += 1
            (log.warning if self.forged == 1 else log.debug)(_(
                "node {node}, run {run}: a line of the step's output looks like a marker but does not "
                "carry this run's nonce; kept as output: {line}").format(
                node=self.node.name, run=self.run_key, line=line[:200].decode("utf-8", "replace").strip()))
            return None
        kind, fields = (words[1] if len(words) > 1 else b""), words[2:]
        if kind == b"locked":
            return "locked", None, b" ".join(fields).decode("utf-8", "replace")
        if kind == b"plugin":
            step = self.by_name.get(fields[0].decode("utf-8", "replace")) if fields else None
            try:
                if step is None:
                    raise ValueError(fields)
                return "plugin", step, plugin_record(fields[1:])
            except (ValueError, UnicodeDecodeError):
                log.warning(_("node {node}, run {run}: a malformed marker line; kept as output: {line}").format(
                    node=self.node.name, run=self.run_key, line=line[:200].decode("utf-8", "replace").strip()))
                return None
        names = _MARKERS.get(kind)
        name = fields[0].decode("utf-8", "replace") if fields else None
        step = self.by_name.get(name) or self.done_before.get(name)
        values = {}
        try:
            if names is None or len(fields) != len(names) or step is None:
                raise ValueError(kind)
            for name, word in zip(names[1:], fields[1:]):
                values[name] = int(word) if name == "rc" else float(word)
                if name == "rc" and not 0 <= values[name] <= 255 or name == "epoch" and not math.isfinite(values[name]):
                    raise ValueError(word)
        except ValueError:
            log.warning(_("node {node}, run {run}: a malformed marker line; kept as output: {line}").format(
                node=self.node.name, run=self.run_key, line=line[:200].decode("utf-8", "replace").strip()))
            return None
        return kind.decode("ascii"), step, values

    def _line(self, line):
        marker = self._marker(line) if line.startswith(MARK) else None
        if marker is None:
            self.sink.write(line)
            return
        kind, step, values = marker
        if kind == "locked":
            self.locked = values
            self.sink.write(values.encode("utf-8") + b"\n")
            return
        if kind == "plugin":
            self.journal.plugin_run(self.hop, step, self.node, values)
            self.up.out("info" if values["outcome"] == "ok" else "warning", plugin_line(step, self.node, values))
            return
        if step.name in self.done_before:
            if kind == "begin":  # its output went to its log when it ran
                self.sink.close()
                self.sink = open(os.devnull, "wb")
            return
        entry = self.journal.result(self.hop, step, self.node)
        if kind == "begin":
            self.begun[step.name] = values["epoch"]
            self.last = step
            if entry.status != OK and not entry.in_run(self.run_key, RUNNING, FAILED):
                self.up.begin(self.hop, self.node, step, self.run_key)  # else: journaled already (a re-attach)
            self._enter(step)
        elif kind == "end" and entry.in_run(self.run_key, RUNNING):
            self.sink.flush()
            node_elapsed = values["epoch"] - self.begun.get(step.name, values["epoch"])
            self.journal.note(self.hop, step, self.node, elapsed=round(time.time() - self.started, 3))
            failure = self.up.finish(self.hop, step, self.node, values["rc"], node_elapsed=round(node_elapsed, 3))
            self.failure = self.failure or failure

    def close(self, rc):
        """The run ended with `rc` (None: cancelled): the first failure, or None. A step that
        began but has no end marker (the run was killed) ends with the run's exit code. The
        chain's exit code is checked against the markers: `drstep chain` exits with the failed
        step's code right after its end marker, so a non-zero exit (not a stop, not a signal)
        with no step failed fails the step that began last."""
        if self.buf:
            self.sink.write(self.buf)
            self.buf = b""
        self.sink.close()
        entry = self.journal.result(self.hop, self.step, self.node)
        if self.locked is not None and rc is not None:
            return self._refused(entry)
        if rc is not None and entry.in_run(self.run_key, RUNNING):
            self.journal.note(self.hop, self.step, self.node, elapsed=round(time.time() - self.started, 3))
            self.failure = self.failure or self.up.finish(self.hop, self.step, self.node, rc or 1)
        elif rc not in (None, 0, STOPPED) and rc < 128 and self.failure is None and self.last is not None:
            if self.journal.result(self.hop, self.last, self.node).in_run(self.run_key, OK):
                self.journal.note(self.hop, self.last, self.node, reason=_(
                    "the run ended with exit code {rc} although step {step} reported success").format(
                    rc=rc, step=self.last.name))
                self.failure = self.up.finish(self.hop, self.last, self.node, rc)
        self.journal.unqueue(self.hop, self.node, self.run_key, self.pending)
        return self.failure

    def _refused(self, entry):
        """The node lock refused the run before its step began: not an attempt of the step."""
        if entry.in_run(self.run_key, RUNNING):
            self.journal.mark_retry(self.hop, [self.step], [self.node], reason=self.locked)
        self.journal.unqueue(self.hop, self.node, self.run_key, self.pending)
        raise NodeLocked(_("node {node} refused run {run}: {detail}").format(
            node=self.node.name, run=self.run_key, detail=self.locked),
            hint=_("another drupgrade run holds the node, or the step still runs there from an earlier "
                   "attempt; 'bin/upgrade.sh status' and the message above say which"))


def plugin_line(step, node, rec):
    """The console's line of one plugin run."""
    what = {"ok": _("done"), "retry": _("failed, tried again"), "skipped": _("failed for good, skipped: the upgrade "
                                                                           "goes on"),
            "failed": _("failed for good: the step fails")}[rec["outcome"]]
    return _("[{phase}] {node} {step}: plugin {plugin} (attempt {attempt}): {what} (exit {rc}, {reason}; peak "
             "{mb:.1f} MB, CPU {cpu:.1f} s, {secs:.1f} s)").format(
        phase=step.phase, node=node.name, step=step.name, plugin=rec["plugin"], attempt=rec["attempt"], what=what,
        rc=rec["rc"], reason=rec["reason"], mb=rec["peak_memory_kb"] / 1024.0, cpu=rec["cpu_ms"] / 1000.0,
        secs=rec["duration_ms"] / 1000.0)


def exit_for(failure):
    """The exit code a failed phase ends the command with: 3 when its policy collected every
    failure (the precheck's `phase` policy: docs/upgrade.md), 4 when each waits for an answer."""
    collected = failure.policy.collects
    if collected and all(f.rc == EXIT_CONFIRM for f in failure.failures):
        return EXIT_CONFIRM
    return EXIT_PRECHECK if collected else EXIT_FAILED
