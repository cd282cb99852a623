"""Node steps as the controller sees them: read from the same header the node-side bash reads."""
import os
import re

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _, pick

PHASES = ("init", "distribute_tool", "precheck", "distribute_package", "backup", "upgrade",
          "postcheck")
ROLLBACK_PHASE = "rollback"  # the steps of rollback_tool (not a phase of the upgrade run)
HEADER_KEYS = ("Summary", "Summary-zh", "Phase", "Timeout", "Retry", "Done", "Cleanup", "Roles", "Fanout",
               "Barrier", "Kind", "Subject")
FANOUTS = ("parallel", "serial", "primary-first")
# What a step waits for: the previous step on every node (cluster) or only on its own node (node).
BARRIERS = ("cluster", "node")
KINDS = ("db", "file", "service", "network", "plugin")
_HEADER = re.compile(r"^# ([A-Za-z-]+): *(.*)$")
_FILE = re.compile(r"^([0-9]+)-([a-z0-9_]+)\.sh$")


class Step:
    """One step file: name, phase, order, timeout, retry policy, roles, texts."""

    def __init__(self, path, order, name, header):
        self.path = path
        self.order = order
        self.name = name
        self.phase = header.get("Phase", "")
        self.timeout = int(header["Timeout"]) if header.get("Timeout", "").isdigit() else 0
        self.retry = header.get("Retry", "")
        self.summary_en = header.get("Summary", "")
        self.summary_zh = header.get("Summary-zh", "")
        self.done = header.get("Done", "")
        self.cleanup = header.get("Cleanup", "")
        self.fanout = header.get("Fanout", "parallel")
        self.barrier = header.get("Barrier", "cluster")
        self.kind = header.get("Kind", "file")
        self.subject = header.get("Subject", "")
        self.local = False  # True for the controller's own steps (uploads, package checks)
        roles = header.get("Roles", "any")
        self.roles = [r.strip() for r in roles.split(",") if r.strip()] or ["any"]

    @property
    def summary(self):
        return pick(self.summary_en, self.summary_zh)

    def runs_on(self, node):
        return "any" in self.roles or bool(set(self.roles) & set(node.roles))

    def as_dict(self):
        return {"name": self.name, "phase": self.phase, "order": self.order, "timeout": self.timeout,
                "retry": self.retry, "roles": self.roles, "summary": self.summary_en,
                "summary_zh": self.summary_zh, "done": self.done, "cleanup": self.cleanup,
                "fanout": self.fanout, "barrier": self.barrier, "kind": self.kind, "local": self.local}


def read_header(path):
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
            if m.group(1) in HEADER_KEYS:
                header.setdefault(m.group(1), m.group(2).strip())
    return header


def discover(steps_dir, policies, phases=PHASES):
    """Every step under steps_dir/<phase>/NN-name.sh, in run order; bad declarations are exit 2.
    policies: the retry policies by name (retry_policy.load)."""
    found, names = [], {}
    for phase in phases:
        pdir = os.path.join(steps_dir, phase)
        if not os.path.isdir(pdir):
            continue
        for fname in sorted(os.listdir(pdir)):
            m = _FILE.match(fname)
            if not m:
                continue
            path = os.path.join(pdir, fname)
            step = Step(path, int(m.group(1)), m.group(2), read_header(path))
            _check(step, phase, policies, names)
            names[step.name] = path
            found.append(step)
    return found


def _check(step, phase, policies, names):
    problems = []
    if step.phase != phase:
        problems.append(_("header says phase {got!r} but the file is under {phase}/").format(
            got=step.phase, phase=phase))
    if step.timeout <= 0:
        problems.append(_("Timeout must be a positive number of seconds"))
    if step.retry not in policies:
        problems.append(_("Retry {got!r} is not a policy of conf/retry_policy.json ({known})").format(
            got=step.retry, known=", ".join(sorted(policies))))
    if step.fanout not in FANOUTS:
        problems.append(_("Fanout {got!r} is not one of {known}").format(got=step.fanout, known=", ".join(FANOUTS)))
    if step.barrier not in BARRIERS:
        problems.append(_("Barrier {got!r} is not one of {known}").format(got=step.barrier, known=", ".join(BARRIERS)))
    if step.kind not in KINDS:
        problems.append(_("Kind {got!r} is not one of {known}").format(got=step.kind, known=", ".join(KINDS)))
    if not step.summary_en or not step.summary_zh:
        problems.append(_("Summary and Summary-zh are both required"))
    if step.name in names:
        problems.append(_("the step name is also used by {other}").format(other=names[step.name]))
    if problems:
        raise DrupgradeError(
            _("step declaration {file} is invalid: {problems}").format(
                file=step.path, problems="; ".join(problems)),
            code=EXIT_USAGE, hint=_("fix the header of the step file (see scripts/lib/step.sh)"))
