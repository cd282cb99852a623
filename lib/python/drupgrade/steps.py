"""Phases and steps as scripts/steps/ declares them: the same files the node-side bash reads.

`ls scripts/steps/` is the phase table: one directory per phase of the upgrade run, N-name in
run order, with its declaration in the file PHASE (Label, Label-zh, Scope), and rollback/ for the
steps of rollback_tool. `ls scripts/steps/<phase>/` is the phase: one NN-name.sh per step, node
steps and the controller's own (header only, `Runs: controller`), each declared by its header
(scripts/lib/step.sh). The engine, the commands, drstep and the docs all read this.
"""
import functools
import os
import re

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, pick

ROOT = os.environ.get("DRUPGRADE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
STEPS_DIR = os.path.join(ROOT, "scripts", "steps")
ROLLBACK_PHASE = "rollback"  # the directory of rollback_tool's steps (not a phase of the upgrade run)
PHASE_FILE = "PHASE"  # a phase's own declaration, in its directory
PHASE_KEYS = ("Label", "Label-zh", "Scope")
SCOPES = ("run", "hop")  # once per run, before the first hop | once per hop of the upgrade path
HEADER_KEYS = ("Summary", "Summary-zh", "Runs", "Timeout", "Retry", "Done", "Cleanup", "Roles", "Fanout",
               "Barrier", "Kind", "Subject", "Rollback-step", "Label", "Label-zh", "Estimate", "Parallel-group",
               "Rolling")
ROLLBACK_KEYS = ("Rollback-step", "Label", "Label-zh", "Parallel-group")
RUNS = ("node", "controller")
FANOUTS = ("parallel", "serial", "primary-first")
# What a step waits for: the previous step on every node (cluster) or only on its own node (node).
BARRIERS = ("cluster", "node")
# Where a step runs in a rolled hop (drupgrade.rolling: one hop per wave of nodes): on the wave's nodes
# (wave, the default), or once for the whole cluster, on every node of its roles, in the first wave
# (first: what must come before any node moves, e.g. the backup of the database and its expand
# migration) or in the last (last: what must wait until every node moved, e.g. the contract migration).
ROLLING = ("wave", "first", "last")

KINDS = ("db", "file", "service", "network", "plugin")
_HEADER = re.compile(r"^# ([A-Za-z-]+): *(.*)$")
STEP_FILE = re.compile(r"^([0-9]+)-([a-z0-9_]+)\.sh$")  # NN-name.sh: a step (and a check) file
_PHASE_DIR = re.compile(r"^([0-9]+)-([a-z0-9_]+)$")


def in_wave(scope, wave):
    """True when a step of Rolling scope `scope` (steps.ROLLING) runs in `wave` ([wave, waves]) of a
    rolled hop: a `wave` step in every wave (on its nodes), a `first` step in the first wave only, a
    `last` step in the last wave only (on every node of its roles)."""
    return scope == "wave" or wave[0] == (1 if scope == "first" else wave[1])


class Phase:
    """One directory of scripts/steps: a phase of the upgrade run (N-name), or rollback/."""

    def __init__(self, name, order, path, header):
        self.name = name
        self.order = order  # None for rollback/
        self.path = path
        self.label_en = header.get("Label", "")
        self.label_zh = header.get("Label-zh", "")
        self.scope = header.get("Scope", "")

    @property
    def label(self):
        return pick(self.label_en, self.label_zh) or self.name

    @property
    def once_per_run(self):
        return self.scope == "run"

    def as_dict(self):
        return {"name": self.name, "order": self.order, "label": self.label_en, "label_zh": self.label_zh,
                "scope": self.scope}


class Step:
    """One step file: name, phase, order, timeout, retry policy, roles, texts."""

    def __init__(self, path, order, name, header, phase):
        self.path = path
        self.order = order
        self.name = name
        self.phase = phase
        self.header = header
        self.timeout = int(header["Timeout"]) if header.get("Timeout", "").isdigit() else 0
        self.retry = header.get("Retry", "")
        self.summary_en = header.get("Summary", "")
        self.summary_zh = header.get("Summary-zh", "")
        self.done = header.get("Done", "")
        self.cleanup = header.get("Cleanup", "")
        self.fanout = header.get("Fanout", "parallel")
        self.rolling = header.get("Rolling", "wave")
        self.barrier = header.get("Barrier", "cluster")
        self.kind = header.get("Kind", "file")
        self.subject = header.get("Subject", "")
        self.runs = header.get("Runs", "node")
        self.local = self.runs == "controller"  # the controller's own steps (uploads, package checks)
        roles = header.get("Roles", "any")
        self.roles = [r.strip() for r in roles.split(",") if r.strip()] or ["any"]
        # rollback_tool's numbered steps (design §4.4.2.2): number, label, estimate, parallel group
        number = header.get("Rollback-step", "")
        self.number = int(number) if number.isdigit() else None
        self.label_en = header.get("Label", "")
        self.label_zh = header.get("Label-zh", "")
        # seconds one wave of nodes takes: rollback_tool's step estimates, and the upgrade's where
        # this controller has no history yet (drupgrade.estimates)
        self.estimate = int(header["Estimate"]) if header.get("Estimate", "").isdigit() else 0
        self.group = header.get("Parallel-group", "")

    @property
    def summary(self):
        return pick(self.summary_en, self.summary_zh)

    @property
    def label(self):
        return pick(self.label_en, self.label_zh) or self.summary

    def runs_on(self, node):
        return "any" in self.roles or bool(set(self.roles) & set(node.roles))

    def as_dict(self):
        return {"name": self.name, "phase": self.phase, "order": self.order, "timeout": self.timeout,
                "retry": self.retry, "roles": self.roles, "summary": self.summary_en,
                "summary_zh": self.summary_zh, "done": self.done, "cleanup": self.cleanup,
                "fanout": self.fanout, "barrier": self.barrier, "kind": self.kind, "local": self.local,
                "rolling": self.rolling}


def read_header(path, keys=HEADER_KEYS):
    header = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#!"):
                continue
            m = _HEADER.match(line.rstrip("\n"))
            if not m:
                if line.startswith("#"):
                    continue
                break
            if m.group(1) in keys:
                header.setdefault(m.group(1), m.group(2).strip())
    return header


# -- the phase table ----------------------------------------------------------------------------
def _dirs(steps_dir=None):
    return _read_dirs(steps_dir or STEPS_DIR)


@functools.lru_cache(maxsize=None)
def _read_dirs(steps_dir):
    """Every directory of steps_dir: the phases in run order, then rollback/; bad ones are exit 2."""
    found, rollback = [], []
    for entry in sorted(os.listdir(steps_dir)) if os.path.isdir(steps_dir) else []:
        path = os.path.join(steps_dir, entry)
        m = _PHASE_DIR.match(entry)
        if not os.path.isdir(path) or not (m or entry == ROLLBACK_PHASE):
            continue
        decl = os.path.join(path, PHASE_FILE)
        header = read_header(decl, PHASE_KEYS) if os.path.isfile(decl) else {}
        if m:
            phase = Phase(m.group(2), int(m.group(1)), path, header)
            problems = [] if os.path.isfile(decl) else [_("the file is missing")]
            if not phase.label_en or not phase.label_zh:
                problems.append(_("Label and Label-zh are both required"))
            if phase.scope not in SCOPES:
                problems.append(_("Scope {got!r} is not one of {known}").format(
                    got=phase.scope, known=", ".join(SCOPES)))
            for other in found:
                if other.order == phase.order or other.name == phase.name:
                    problems.append(_("its number or name is also used by {other}").format(other=other.path))
            if problems:
                raise DrupgradeError(_("phase declaration {file} is invalid: {problems}").format(
                    file=decl, problems="; ".join(problems)), code=EXIT_USAGE,
                    hint=_("fix the phase's PHASE file and its directory name N-name (see scripts/lib/step.sh)"))
            found.append(phase)
        else:
            rollback.append(Phase(ROLLBACK_PHASE, None, path, header))
    return tuple(sorted(found, key=lambda p: p.order) + rollback)


def phases(steps_dir=None):
    """The phases of the upgrade run, in run order."""
    return tuple(p for p in _dirs(steps_dir) if p.order is not None)


def phase_names(steps_dir=None):
    return tuple(p.name for p in phases(steps_dir))


def phase(name, steps_dir=None):
    """The declaration of a phase (or of rollback/); None for an unknown name."""
    return next((p for p in _dirs(steps_dir) if p.name == name), None)


def once_per_run(name):
    """True for a phase that runs once per run (before the first hop), False for one per hop."""
    return phase(name).once_per_run


def phase_label(name):
    """The phase's label in the operator's language (its name when it declares none)."""
    p = phase(name)
    return p.label if p is not None else name


# -- the steps ----------------------------------------------------------------------------------
def _declared(steps_dir, names):
    """The steps of the directories `names` (phase names, or ROLLBACK_PHASE) in run order, unchecked."""
    found = []
    for d in _dirs(steps_dir):
        if d.name not in names:
            continue
        files = [(int(m.group(1)), m.group(2), f) for f in os.listdir(d.path) for m in [STEP_FILE.match(f)] if m]
        for order, name, fname in sorted(files):
            path = os.path.join(d.path, fname)
            found.append(Step(path, order, name, read_header(path), d.name))
    return found


def discover(steps_dir, policies, phases=None, roles=None):
    """Every step of the given phases (default: every phase of the upgrade run; ROLLBACK_PHASE for
    rollback_tool's), in run order, the controller's own included; bad declarations are exit 2.
    roles: {step name: [roles]}, the product's (product.json steps): the nodes a step runs on,
    where the step's own header says any."""
    found, names = _declared(steps_dir, phases or phase_names(steps_dir)), {}
    for step in found:
        if roles and step.name in roles:
            step.roles = list(roles[step.name])
        _check(step, policies, names)
        names[step.name] = step.path
    _check_rollback(found)
    return found


def rollback_steps(steps_dir=None):
    """rollback_tool's numbered steps (design §4.4.2.2: step1 … stepN), in order; their numbering,
    labels, estimates and parallel groups checked (exit 2 naming the file)."""
    return _rollback_steps(steps_dir or STEPS_DIR)


@functools.lru_cache(maxsize=None)
def _rollback_steps(steps_dir):
    found = _declared(steps_dir, (ROLLBACK_PHASE,))
    _check_rollback(found)
    return tuple(s for s in found if s.number is not None)


def _problem(step, problems):
    raise DrupgradeError(_("step declaration {file} is invalid: {problems}").format(
        file=step.path, problems="; ".join(problems)), code=EXIT_USAGE,
        hint=_("fix the header of the step file (see scripts/lib/step.sh)"))


def _check(step, policies, names):
    problems = []
    if step.runs not in RUNS:
        problems.append(_("Runs {got!r} is not one of {known}").format(got=step.runs, known=", ".join(RUNS)))
    if step.timeout <= 0:
        problems.append(_("Timeout must be a positive number of seconds"))
    if step.retry not in policies:
        problems.append(_("Retry {got!r} is not a policy of conf/retry_policy.json ({known})").format(
            got=step.retry, known=", ".join(sorted(policies))))
    if step.fanout not in FANOUTS:
        problems.append(_("Fanout {got!r} is not one of {known}").format(got=step.fanout, known=", ".join(FANOUTS)))
    if step.barrier not in BARRIERS:
        problems.append(_("Barrier {got!r} is not one of {known}").format(got=step.barrier, known=", ".join(BARRIERS)))
    if step.rolling not in ROLLING:
        problems.append(_("Rolling {got!r} is not one of {known}").format(got=step.rolling, known=", ".join(ROLLING)))
    if step.kind not in KINDS:
        problems.append(_("Kind {got!r} is not one of {known}").format(got=step.kind, known=", ".join(KINDS)))
    if not step.summary_en or not step.summary_zh:
        problems.append(_("Summary and Summary-zh are both required"))
    if "Estimate" in step.header and step.estimate <= 0:
        problems.append(_("Estimate must be a positive number of seconds"))
    if step.name in names:
        problems.append(_("the step name is also used by {other}").format(other=names[step.name]))
    if problems:
        _problem(step, problems)


def _check_rollback(found):
    """rollback/: the numbered steps are 1…N in file order, each with both labels and an estimate;
    the steps of a parallel group follow each other. These keys belong to rollback/ only."""
    numbered = []
    for step in found:
        given = [k for k in ROLLBACK_KEYS if k in step.header]
        if step.phase != ROLLBACK_PHASE and given:
            _problem(step, [_("{keys} are for the steps of {dir}/ only").format(keys=", ".join(given),
                                                                                dir=ROLLBACK_PHASE)])
        elif step.number is not None:
            numbered.append(step)
        elif given:
            _problem(step, [_("Rollback-step must be a number (1, 2, …) when {keys} are given").format(
                keys=", ".join(given))])
    for i, step in enumerate(numbered):
        problems = []
        if step.number != i + 1:
            problems.append(_("Rollback-step {got} is out of order: the numbered steps are 1, 2, 3, … in file "
                              "order, so this one is {want}").format(got=step.number, want=i + 1))
        if not step.label_en or not step.label_zh:
            problems.append(_("Label and Label-zh are both required"))
        if step.estimate <= 0:
            problems.append(_("Estimate must be a positive number of seconds"))
        if step.group and i > 0 and numbered[i - 1].group != step.group and \
                any(s.group == step.group for s in numbered[:i]):
            problems.append(_("the steps of Parallel-group {group} must follow each other").format(group=step.group))
        if problems:
            _problem(step, problems)
