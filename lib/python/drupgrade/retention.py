"""Retention (issue 12): old backups and runs are removed on the nodes and on the controller.

`[backup] keep = N` (default 3) applies after every upgrade run that completes (its postcheck
passed), and `rollback_tool prune [--keep N]` applies it by hand. A run is removed as a whole, so
that the catalogue (built from the runs' journals and the collected manifests) stays right: on
every node its backups (<node_backup_dir>/<id>, only where drupgrade's marker, or for older
backups their own manifest, shows they are ours), its detached run dirs, and the package files
and unpacked packages no kept run needs; on the controller its journal, logs and manifest copies,
and the rollback sessions that used its backups. Never removed: the newest complete backup, the
backup `latest` names, a backup that an unfinished rollback session uses, the current upgrade
run and the current rollback session.
"""
import os
import re
import shutil

from drupgrade import catalog, fanout, state
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport import owned
from drupgrade.transport.progress import human_size
from drupgrade.transport.quoting import UnsafeValue, check_remote_path

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
UNFINISHED = ("running", "failed")  # a rollback session in these states may still be continued

# Why a backup is kept (shown by prune).
KEPT_NEWEST = N_("one of the {keep} newest complete backups")
KEPT_LATEST = N_("the backup 'auto latest' rolls back to")
KEPT_SESSION = N_("used by the unfinished rollback session {id}")
KEPT_RUN = N_("belongs to a kept run ({run})")
KEPT_NEWER = N_("not older than the oldest backup kept")

# On each node: $1 backup root, $2 run root, then KIND=VALUE items. Prints one line per item it
# acts on: "removed KB PATH", "not-owned PATH" (left: not drupgrade's), "live PATH" (left: a
# process of that run still runs).
NODE_SCRIPT = owned.script(r"""set -u
backup_root=$1 run_root=$2
shift 2
kb() { du -sk -- "$1" 2>/dev/null | cut -f1; }
gone() { local k; k=$(kb "$1"); rm -rf -- "$1" && echo "removed ${k:-0} $1"; }
live() {
  local pid
  pid=$(cat -- "$1/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ ! -f "$1/rc" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1"
}
for item in "$@"; do
  kind=${item%%=*} value=${item#*=}
  case $kind in
    backup)
      d=$backup_root/$value
      if [ -d "$d" ] && [ ! -L "$d" ] && ! owned::is_ours "$d" && [ -f "$d/backup_manifest.json" ] &&
        grep -qF "\"backup_id\": \"$value\"" "$d/backup_manifest.json"; then
        owned::mark "$d" "created_by=drupgrade backup (made before drupgrade wrote markers)"
      fi
      if [ -e "$d" ] || [ -L "$d" ]; then
        if owned::is_ours "$d"; then gone "$d"; else echo "not-owned $d"; fi
      fi
      for s in "/run/drupgrade-rollback/$value" "/run/drupgrade-rollback/$value.db"; do
        if [ -d "$s" ] && [ ! -L "$s" ]; then gone "$s"; fi
      done
      ;;
    runs)
      for d in "$run_root/$value".*; do
        [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/cmd" ] || continue
        if live "$d"; then echo "live $d"; else gone "$d"; fi
      done
      ;;
    file)
      if [ -f "$value" ] && [ ! -L "$value" ]; then
        k=$(kb "$value"); rm -f -- "$value" && echo "removed ${k:-0} $value"
      fi
      ;;
    work)
      if [ -d "$value" ] && [ ! -L "$value" ]; then
        if [ -f "$value/.unpacked" ] || owned::is_ours "$value"; then gone "$value"; else echo "not-owned $value"; fi
      fi
      ;;
  esac
done
""")


class Selection:
    """What retention keeps and removes (ids), and why each kept backup stays."""

    def __init__(self, keep):
        self.keep = keep
        self.kept = {}  # backup_id -> (reason msgid, format args)
        self.backups = []  # backup ids to remove (their runs' and orphan ones)
        self.runs = []  # upgrade run ids to remove
        self.rollbacks = []  # rollback session ids to remove
        self.versions = []  # hop targets of removed runs that no kept run has

    def empty(self):
        return not (self.backups or self.runs or self.rollbacks)

    def why(self, backup_id):
        msgid, args = self.kept[backup_id]
        return _(msgid).format(**args)


def sessions(state_dir):
    """{rollback_id: journal data} of every rollback session."""
    found = {}
    root = os.path.join(state_dir, "rollbacks")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        data = state.read_json(os.path.join(root, name, "journal.json"))
        if isinstance(data, dict):
            found[name] = data
    return found


def current_id(state_dir, pointer, key):
    data = state.read_json(os.path.join(state_dir, pointer))
    return data.get(key) if isinstance(data, dict) else None


def select(catalog, keep, current_run=None, current_rollback=None, rollbacks=None):
    """Which backups, runs and rollback sessions go. Keeps the `keep` newest complete backups (at
    least the newest one), the one `latest` names, those unfinished rollback sessions use, every
    backup of a kept run, the current run, the `keep` newest runs (at least the newest one: a run
    that failed before its backup keeps its journal and logs for a while), and every run from the
    one that holds the oldest of those newest backups on (a failed run between them too).
    Nothing goes while there is no complete backup."""
    sel = Selection(keep)
    rollbacks = rollbacks or {}
    backups = catalog.backups()
    runs = catalog.runs()
    complete = [b for b in sorted(backups, reverse=True) if catalog.problem(backups[b]) is None]
    if not complete:
        return sel
    newest = complete[:max(keep, 1)]
    for b in newest:
        sel.kept[b] = (KEPT_NEWEST, {"keep": max(keep, 1)})
    latest = catalog.latest()
    if latest in backups:
        sel.kept.setdefault(latest, (KEPT_LATEST, {}))
    kept_runs = {r.get("run_id") for r in runs[-max(keep, 1):]}  # runs: oldest first
    if current_run:
        kept_runs.add(current_run)
    for rid, data in sorted(rollbacks.items()):
        if data.get("status") in UNFINISHED:
            if data.get("backup_id") in backups:
                sel.kept.setdefault(data["backup_id"], (KEPT_SESSION, {"id": rid}))
            kept_runs.add(data.get("upgrade_run"))
    kept_runs |= {backups[b]["run_id"] for b in sel.kept if backups[b]["run_id"]}
    # The runs from the one that holds the oldest of the newest backups on are kept (the current
    # one among them, and a failed run between them); an orphan backup (no journal) goes when it
    # is older than that backup.
    oldest = newest[-1]
    window_run = backups[oldest]["run_id"]
    order = [r.get("run_id") for r in runs]
    cut = order.index(window_run) if window_run in order else None
    for i, run in enumerate(runs):
        rid = run.get("run_id")
        ids = [info.get("backup_id") for info in run.get("hop_info", {}).values()]
        older = i < cut if cut is not None else bool(ids) and all(b and b < oldest for b in ids)
        if rid in kept_runs or not older or not _ID_RE.match(rid or ""):
            kept_runs.add(rid)
            for b in ids:
                if b in backups:
                    sel.kept.setdefault(b, (KEPT_RUN, {"run": rid}))
            continue
        sel.runs.append(rid)
        sel.backups += [b for b in ids if b and _ID_RE.match(b)]
    for b in sorted(backups):
        if backups[b]["run_id"] is None and b not in sel.kept and _ID_RE.match(b):
            if b < oldest:
                sel.backups.append(b)
            else:
                sel.kept[b] = (KEPT_NEWER, {})
    gone = set(sel.backups)
    for rid, data in sorted(rollbacks.items()):
        if rid == current_rollback or data.get("status") in UNFINISHED or not _ID_RE.match(rid):
            continue
        if data.get("backup_id") in gone or data.get("backup_id") not in backups:
            sel.rollbacks.append(rid)
    needed = {dst for r in runs if r.get("run_id") in kept_runs for _src, dst in r.get("hops", [])}
    sel.versions = sorted({dst for r in runs if r.get("run_id") in sel.runs for _src, dst in r.get("hops", [])}
                          - needed)
    return sel


class Pruner:
    """Applies a Selection: the nodes first, then the controller's records of what is gone. The
    caller holds the run lock (state.RunLock)."""

    def __init__(self, cfg, transport, ops):
        self.cfg = cfg
        self.t = transport
        self.state_dir = cfg.paths["state_dir"]
        self.catalog = catalog.Catalog(self.state_dir, [n.name for n in cfg.nodes])
        self.ops = ops  # NodeOps: the names of the package files and unpacked packages

    def select(self, keep):
        return select(self.catalog, keep, current_id(self.state_dir, "current_run.json", "run_id"),
                      current_id(self.state_dir, "current_rollback.json", "rollback_id"), sessions(self.state_dir))

    def items(self, sel):
        items = ["backup=" + b for b in sel.backups] + ["runs=" + r for r in sel.runs + sel.rollbacks]
        for v in sel.versions:
            files, dirs = self.ops.leftovers(v)
            items += ["file=" + check_remote_path(f) for f in files] + ["work=" + check_remote_path(d) for d in dirs]
        return items

    def on_nodes(self, sel):
        """{node: {"freed_bytes", "removed", "not_owned", "live", "error"}}."""
        items = self.items(sel)
        paths = self.cfg.paths
        try:
            check_remote_path(paths["node_backup_dir"])
            check_remote_path(paths["node_run_dir"])
        except UnsafeValue as e:
            raise DrupgradeError(str(e), code=EXIT_FAILED) from None

        def one(node):
            report = {"freed_bytes": 0, "removed": [], "not_owned": [], "live": [], "error": None}
            res = self.t.run(node, ["bash", "-c", NODE_SCRIPT, "drprune", paths["node_backup_dir"],
                                    paths["node_run_dir"]] + items, timeout=1800)
            for line in res.stdout.splitlines():
                word, _sep, rest = line.partition(" ")
                if word == "removed" and " " in rest:
                    kb, path = rest.split(" ", 1)
                    report["removed"].append(path)
                    report["freed_bytes"] += int(kb) * 1024 if kb.isdigit() else 0
                elif word == "not-owned":
                    report["not_owned"].append(rest)
                elif word == "live":
                    report["live"].append(rest)
            if res.rc != 0:
                report["error"] = (res.stderr.strip().splitlines() or ["rc %d" % res.rc])[-1]
            return report
        return fanout.by_node(self.cfg, one)

    def on_controller(self, sel):
        """The records of what is gone (history entries keep their run's start time, so that
        'latest' still knows what a rollback undid)."""
        runs = {r.get("run_id"): r for r in self.catalog.runs()}
        data = self.catalog.history()
        for e in data["rollback_history"]:
            run = runs.get(e.get("upgrade_run"))
            if e.get("upgrade_run") in sel.runs and run and not e.get("upgrade_run_created"):
                e["upgrade_run_created"] = run.get("created")
        gone = set(sel.backups)
        data["available_backups"] = [r for r in data["available_backups"] if r.get("backup_id") not in gone]
        self.catalog.save_history(data)
        for b in sel.backups:
            self._rmtree("backups", b)
        for rid in sel.rollbacks:
            self._rmtree("logs", rid)
            self._rmtree("rollbacks", rid)
        for rid in sel.runs:
            self._rmtree("logs", rid)
            self._rmtree("runs", rid)

    def _rmtree(self, where, name):
        if _ID_RE.match(name or "") and name not in (".", ".."):
            path = os.path.join(self.state_dir, where, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)

    def prune(self, keep, dry_run=False):
        """Apply retention; the report (also the --json document of prune)."""
        sel = self.select(keep)
        report = {"keep": max(keep, 1), "dry_run": dry_run,
                  "kept": [{"backup_id": b, "reason": sel.why(b)} for b in sorted(sel.kept, reverse=True)],
                  "removed": {"backups": sel.backups, "runs": sel.runs, "rollbacks": sel.rollbacks,
                              "versions": sel.versions},
                  "nodes": {}, "freed_bytes": 0, "ok": True}
        if sel.empty() or dry_run:
            return report
        nodes = self.on_nodes(sel)
        report["nodes"] = nodes
        report["freed_bytes"] = sum(n["freed_bytes"] for n in nodes.values())
        failed = {name: n for name, n in nodes.items() if n["error"] or n["live"]}
        if failed:
            # The controller keeps its records: a later prune finds the same runs and tries again.
            report["ok"] = False
            return report
        self.on_controller(sel)
        return report


def lines(report, kept=True):
    """The report in the operator's language: (level, text) pairs (with why each kept backup stays)."""
    out = []
    removed = report["removed"]
    for k in report["kept"] if kept else []:
        out.append(("info", _("kept {id}: {reason}").format(id=k["backup_id"], reason=k["reason"])))
    if not (removed["backups"] or removed["runs"] or removed["rollbacks"]):
        out.append(("info", _("nothing to remove: every backup is kept ([backup] keep = {keep})").format(
            keep=report["keep"])))
        return out
    dry = report["dry_run"]
    for b in removed["backups"]:
        out.append(("info", (_("would remove backup {id}") if dry else _("removed backup {id}")).format(id=b)))
    for r in removed["runs"]:
        out.append(("info", (_("would remove upgrade run {id} (journal, logs, node run dirs)") if dry else
                             _("removed upgrade run {id} (journal, logs, node run dirs)")).format(id=r)))
    for r in removed["rollbacks"]:
        out.append(("info", (_("would remove rollback session {id}") if dry else
                             _("removed rollback session {id}")).format(id=r)))
    if removed["versions"]:
        out.append(("info", (_("would remove the package files and unpacked packages of {versions} on the nodes")
                             if dry else _("removed the package files and unpacked packages of {versions} on the "
                                           "nodes")).format(versions=", ".join(removed["versions"]))))
    for node, n in sorted(report["nodes"].items()):
        for path in n["not_owned"]:
            out.append(("warning", _("node {node}: {path} was not created by drupgrade (no {marker} file, no "
                                     "manifest of that backup): it was left as it is; remove it yourself if it "
                                     "is not needed").format(node=node, path=path, marker=owned.MARKER)))
        for path in n["live"]:
            out.append(("error", _("node {node}: a process of {path} still runs: it was left as it is").format(
                node=node, path=path)))
        if n["error"]:
            out.append(("error", _("node {node}: the removal failed: {detail}").format(node=node, detail=n["error"])))
    if not report["dry_run"]:
        out.append(("info", _("freed {size} on the nodes").format(size=human_size(report["freed_bytes"]))))
    if not report["ok"]:
        out.append(("error", _("the controller keeps the records of these runs: run 'bin/rollback_tool prune' "
                               "again once the nodes named above are reachable and idle")))
    return out
