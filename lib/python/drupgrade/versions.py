"""Versions and upgrade paths from the compatibility matrix (design §4.7.1)."""
import re

from drupgrade import config
from drupgrade.errors import EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _

_VERSION = re.compile(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)$")
MODES = ("auto", "jump", "progressive")


def add_target_arguments(parser, required=True, to_help=None):
    """--to VERSION and --mode auto|jump|progressive, declared once for plan, run and precheck."""
    parser.add_argument("--to", required=required, metavar="VERSION", help=to_help or _("target version, e.g. 2.2.0"))
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help=_("jump, progressive, or auto (jump where the matrix allows it)"))


def normalize(text):
    """'v2.2.0' or '2.2.0' -> '2.2.0'; anything else is a usage error."""
    m = _VERSION.match((text or "").strip())
    if not m:
        raise DrupgradeError(_("{value!r} is not a version (expected e.g. 2.2.0 or v2.2.0)").format(
            value=text), code=EXIT_USAGE)
    return "%s.%s.%s" % m.groups()


def key(version):
    return tuple(int(p) for p in normalize(version).split("."))


class Matrix:
    """The compatibility matrix with versions normalised (no leading v)."""

    def __init__(self, data, path="<matrix>"):
        self.path = path
        self.versions = sorted({normalize(v) for v in data["versions"]}, key=key)
        self.rows = {}
        for src, row in data["version_compatibility"].items():
            self.rows[normalize(src)] = {k: [normalize(v) for v in vals] for k, vals in row.items()}
        known = set(self.versions)
        for src, row in self.rows.items():
            for k, vals in row.items():
                unknown = [v for v in [src] + vals if v not in known]
                if unknown:
                    raise DrupgradeError(
                        _("{file}: version {version} in {src}.{key} is not listed in versions").format(
                            file=path, version=unknown[0], src=src, key=k), code=EXIT_USAGE)

    @classmethod
    def load(cls, path):
        return cls(config.load_json(path, "version_matrix"), path)

    def direct(self, src):
        return self.rows.get(src, {}).get("direct_upgrade", [])

    def supported(self, src, dst):
        return dst in self.rows.get(src, {}).get("supported_targets", [])

    def progressive_path(self, src, dst):
        """src -> dst through the row's intermediate versions, every hop a direct upgrade."""
        inter = [v for v in self.rows.get(src, {}).get("progressive_upgrade", [])
                 if key(src) < key(v) < key(dst)]
        path = [src] + sorted(inter, key=key) + [dst]
        hops = list(zip(path, path[1:]))
        if all(b in self.direct(a) for a, b in hops):
            return hops
        return self.shortest_path(src, dst)

    def shortest_path(self, src, dst):
        """Fewest direct hops (breadth first), for a combined path; None when there is none."""
        frontier, seen = [[src]], {src}
        while frontier:
            nxt = []
            for path in frontier:
                for v in self.direct(path[-1]):
                    if v == dst:
                        p = path + [v]
                        return list(zip(p, p[1:]))
                    if v not in seen and key(v) < key(dst):
                        seen.add(v)
                        nxt.append(path + [v])
            frontier = nxt
        return None


def plan_path(matrix, src, dst, mode="auto", checker=None):
    """Hops [(from, to), …] and the upgrade mode, or a DrupgradeError saying why not. checker
    (compat.Checker): the compatibility checks of the chosen hops, the §4.7.1.2 flowchart: a jump
    whose checks fail falls back to the progressive path when one exists and its hops pass theirs
    (checker.fallback_reason says why); --mode jump refuses instead (exit 3), and so does a
    path whose own hops fail their checks."""
    src, dst = normalize(src), normalize(dst)
    if src == dst:
        return [], "none"
    if key(dst) < key(src):
        raise DrupgradeError(_("cannot upgrade from {src} down to {dst}; use rollback_tool to go back").format(
            src=src, dst=dst), code=EXIT_FAILED)
    if dst not in matrix.versions:
        raise DrupgradeError(_("target version {dst} is not in the compatibility matrix {file}").format(
            dst=dst, file=matrix.path), code=EXIT_USAGE)
    if not matrix.supported(src, dst):
        raise DrupgradeError(_("the compatibility matrix does not support upgrading {src} to {dst}").format(
            src=src, dst=dst), code=EXIT_FAILED,
            hint=_("supported targets from {src}: {targets}").format(
                src=src, targets=", ".join(matrix.rows.get(src, {}).get("supported_targets", [])) or "-"))
    jump_failed = []
    if mode in ("auto", "jump") and dst in matrix.direct(src):
        jump_failed = checker.check([(src, dst)]) if checker else []
        if not jump_failed:
            return [(src, dst)], "jump_upgrade"
        if mode == "jump":
            raise checker.refused(jump_failed, _(
                "the jump {src} -> {dst} fails its compatibility checks; nothing was changed on any node:").format(
                    src=src, dst=dst), _("fix what each check names, or let the upgrade take the progressive path: "
                                         "bin/upgrade.sh plan --to {dst} (--mode auto or progressive)").format(dst=dst))
    elif mode == "jump":
        raise DrupgradeError(_("{src} cannot jump to {dst} directly; use --mode progressive or auto").format(
            src=src, dst=dst), code=EXIT_FAILED)
    hops = matrix.progressive_path(src, dst)
    if jump_failed and hops == [(src, dst)]:
        hops = None  # the only path is the jump that failed
    if not hops:
        if jump_failed:
            raise checker.refused(jump_failed, _(
                "the jump {src} -> {dst} fails its compatibility checks and the matrix has no progressive path; "
                "nothing was changed on any node:").format(src=src, dst=dst), _(
                "fix what each check names, then run the command again"))
        raise DrupgradeError(_("no upgrade path from {src} to {dst} in the compatibility matrix").format(
            src=src, dst=dst), code=EXIT_FAILED)
    failed = checker.check(hops) if checker else []
    if failed:
        raise checker.refused(jump_failed + failed, _(
            "the upgrade path {path} fails its compatibility checks; nothing was changed on any node:").format(
                path=" -> ".join([src] + [d for _s, d in hops])), _(
                "fix what each check names, then run the command again"))
    if jump_failed:  # a mixed cluster's plan is several paths: each fallback is said
        reason = _("the jump {src} -> {dst} fails {checks}: the progressive path is taken").format(
            src=src, dst=dst, checks="; ".join(_("{check} on {node} ({detail})").format(
                check=r["check"], node=r["node"], detail=r["detail"]) for r in jump_failed))
        checker.fallback_reason = "; ".join(filter(None, [checker.fallback_reason, reason]))
    return hops, "progressive_upgrade"
