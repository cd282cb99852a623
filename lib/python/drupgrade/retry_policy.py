"""Retry policies (design §4.2.2): conf/retry_policy.json read into RetryPolicy objects that say
what a policy means. The engine interprets them in one place (Upgrade.prepare_retry), for its
automatic retries and for 'upgrade.sh retry' alike.

scope       what runs again                                           cleanup (before it, on the nodes)
run         nothing: the run is over, a new run starts from the top   run: nothing on the nodes
step        the failed step, on the nodes where it failed             step: the step's own cleanup there
phase       the whole phase (its failures collected first)            none: no cleanup
restart_at  the phase from the step `restart_at` on, on every node    environment: that step's cleanup
                                                                      (§4.2.5) on every node it runs on
Every earlier attempt on a node is confirmed ended (settled) before any cleanup or new attempt.
"""
from drupgrade import config
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, pick

# scope
RUN, STEP, PHASE, RESTART_AT = "run", "step", "phase", "restart_at"
# cleanup (besides STEP and RUN)
NONE, ENVIRONMENT = "none", "environment"


class RetryPolicy:
    """One policy of conf/retry_policy.json (validated by schemas/retry_policy.json)."""

    def __init__(self, name, data):
        self.name = name
        self.data = dict(data)  # as conf/retry_policy.json has it (`upgrade.sh --json steps`)
        self.scope = data["scope"]
        self.cleanup = data["cleanup"]
        self.restart_at = data.get("restart_at")
        self.auto_retries = data["auto_retries"]  # automatic retries (0 for scopes run and phase: load)
        self.delay = data["delay"]
        self.summary_en = data["summary"]
        self.summary_zh = data["summary_zh"]

    @property
    def summary(self):
        """What the policy does, in the operator's language."""
        return pick(self.summary_en, self.summary_zh)

    @property
    def starts_over(self):
        """A failure ends the run for good: the operator starts a new one (`run --to`)."""
        return self.scope == RUN

    @property
    def collects(self):
        """Every failure of the phase across the cluster is collected before the phase fails."""
        return self.scope == PHASE

    @property
    def retries_alone(self):
        """A failure is retried without the rest of the phase's failures: the step may run on a
        node right after its node's previous step (a chain), without waiting for the others."""
        return self.scope in (STEP, RESTART_AT)

    @property
    def restarts(self):
        """A failure restarts its phase at an earlier step (`restart_at`) on every node."""
        return self.scope == RESTART_AT

    def plan(self, step, phase_steps, failed_nodes, nodes_for):
        """What a retry of `step` (failed on failed_nodes) does: a RetryPlan. phase_steps: the
        steps of its phase in run order; nodes_for(step): the nodes a step runs on."""
        if self.scope == STEP:
            redo = [step]
        elif self.scope == RESTART_AT:
            names = [s.name for s in phase_steps]
            redo = phase_steps[names.index(self.restart_at):]
        elif self.scope == PHASE:
            redo = list(phase_steps)
        else:  # RUN: nothing here, a new run
            return RetryPlan(self, step, [], [], None, [])
        cleanup = step if self.cleanup == STEP else redo[0] if self.cleanup == ENVIRONMENT else None
        clean_on = list(failed_nodes) if self.cleanup == STEP else nodes_for(cleanup) if cleanup else []
        if self.scope == STEP:
            nodes = list(failed_nodes)
        else:
            nodes = _unique([n for s in redo for n in nodes_for(s)] + clean_on)
        return RetryPlan(self, step, redo, nodes, cleanup, clean_on)


class RetryPlan:
    """A retry of one failed step, as its policy says, in the order the engine does it: on each
    of `nodes` every earlier attempt of the `redo` steps is confirmed ended (settled), then the
    `cleanup` step's cleanup runs on `clean_on`; then the `redo` steps run again (their results
    marked in the journal), from redo[0] on."""

    def __init__(self, policy, step, redo, nodes, cleanup, clean_on):
        self.policy, self.step = policy, step
        self.redo = redo  # the steps that run again, in run order
        self.nodes = nodes  # the nodes they run again on
        self.cleanup = cleanup  # the step whose cleanup runs first (None: none)
        self.clean_on = clean_on  # where that cleanup runs
        # Each failed node on its own (scope step), or every node together: then one node that
        # cannot be cleaned up holds back the restart everywhere (the operator decides).
        self.together = policy.scope != STEP

    @property
    def environment(self):
        """The cleanup is the full environment cleanup of §4.2.5 (the restart step's)."""
        return self.policy.cleanup == ENVIRONMENT

    def cleans(self, node):
        return any(n.name == node.name for n in self.clean_on)


def _unique(nodes):
    seen, out = set(), []
    for n in nodes:
        if n.name not in seen:
            seen.add(n.name)
            out.append(n)
    return out


def load(path):
    """{name: RetryPolicy} of a retry_policy.json: checked by its schema, then the scope and the
    cleanup must say the same thing (exit 2 naming the policy and the rule)."""
    policies = {}
    for name, data in sorted(config.load_json(path, "retry_policy")["policies"].items()):
        problems = _problems(data)
        if problems:
            raise DrupgradeError(_("retry policy {policy} in {file} is invalid: {problems}").format(
                policy=name, file=path, problems="; ".join(problems)), code=EXIT_USAGE,
                hint=_("fix the policy (docs/upgrade.md, 'Retry policies', says what scope and cleanup mean)"))
        policies[name] = RetryPolicy(name, data)
    return policies


def _problems(data):
    scope, cleanup = data["scope"], data["cleanup"]
    problems = []
    if (scope == RUN) != (cleanup == RUN):
        problems.append(_("scope run and cleanup run go together: the run is over, a new run starts and "
                          "nothing is cleaned up on the nodes"))
    if cleanup == ENVIRONMENT and scope != RESTART_AT:
        problems.append(_("cleanup environment is the cleanup of the step the phase restarts at: it needs "
                          "scope restart_at"))
    if scope in (RUN, PHASE) and data["auto_retries"]:
        problems.append(_("scope {scope} is never retried automatically: auto_retries must be 0").format(scope=scope))
    return problems
