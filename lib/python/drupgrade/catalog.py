"""The backups the controller knows: from its copies of their manifests
(<state_dir>/backups/<id>/<node>.json) and from the runs' journals, and the rollback history.
rollback_tool lists and restores them (rollback.py); retention prunes them (retention.py)."""
import copy
import logging
import os
import re

from drupgrade import manifest, rolling, safetext, state
from drupgrade.errors import DrupgradeError
from drupgrade.i18n import _
from drupgrade.journal import Journal

LOG = logging.getLogger("drupgrade.catalog")
_UNREADABLE = set()  # run journals already warned about in this process


def vstrip(v):
    return (v or "").lstrip("v")


class Catalog:
    """Backups (from the collected manifests and the runs' journals) and the rollback history."""

    def __init__(self, state_dir, node_names):
        self.state_dir = state_dir
        self.node_names = list(node_names)
        self.history_path = os.path.join(state_dir, "rollback_history.json")
        self._loaded = {}  # path -> ((inode, size, mtime), what was read): see read()

    def read(self, path, load):
        """load(path), read again only when the file changed (inode, size or mtime: every state file
        is replaced by a rename): a command asks for the catalogue many times, and each read checks
        every run's journal and every manifest against its schema. A copy: callers may change it."""
        try:
            st = os.stat(path)
        except OSError:
            return load(path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._loaded.get(path)
        if hit is None or hit[0] != stamp:
            hit = self._loaded[path] = (stamp, load(path))
        return copy.deepcopy(hit[1])

    def runs(self):
        """Upgrade journals, oldest first (one that cannot be read is left out, with a warning)."""
        found = []
        runs_dir = os.path.join(self.state_dir, "runs")
        for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
            path = os.path.join(runs_dir, name, "journal.json")
            try:  # a stray file in runs/ is no run; a damaged journal is skipped, never fatal here
                data = self.read(path, lambda p: Journal.load(p).data)
            except FileNotFoundError:
                continue
            except (OSError, ValueError, DrupgradeError) as e:  # a corrupt journal
                if path in _UNREADABLE:
                    continue
                _UNREADABLE.add(path)
                LOG.warning(_("run journal {file} cannot be read, its backups are known from their manifests "
                              "only: {detail}").format(file=path, detail=getattr(e, "message", None) or e))
                continue
            if isinstance(data, dict):
                found.append(data)
        return sorted(found, key=lambda d: (str(d.get("created", "")), str(d.get("run_id", ""))))

    @staticmethod
    def hops(run):
        """(hop, info) of a run's backups, in hop order; entries that do not name a backup are left out."""
        info = run.get("hop_info")
        found = []
        for hop, i in (info.items() if isinstance(info, dict) else ()):
            if re.match(r"^hop[0-9]+$", str(hop)) and isinstance(i, dict) and \
                    manifest.BACKUP_ID.match(str(i.get("backup_id", ""))):
                found.append((hop, i))
        return sorted(found, key=lambda kv: int(kv[0][3:]))

    def backups(self):
        """{backup_id: info}, newest first in backup_ids(). Every manifest is checked against the schema
        (manifest.py): a backup with a bad one, and anything in <state_dir>/backups that is not a backup
        directory, is listed as corrupt (info["corrupt"]: why, naming the file) and never used."""
        def entry(backup_id, **fields):
            return dict({"backup_id": backup_id, "version": None, "version_to": None, "run_id": None, "hop": None,
                         "timestamp": None, "manifests": {}, "corrupt": []}, **fields)

        out_ = {}
        later = {}  # backup_id -> the same run's later backups, in hop order, with the nodes each hop upgraded
        for run in self.runs():
            run_hops = self.hops(run)
            nodes = run.get("hop_nodes") if isinstance(run.get("hop_nodes"), dict) else {}
            for i, (hop, info) in enumerate(run_hops):
                if rolling.wave_hops(run, hop)[0] != hop:
                    continue  # a later wave of a rolled hop: its first wave's backup (Journal.hop_info)
                out_[info["backup_id"]] = entry(
                    info["backup_id"], version=vstrip(str(info.get("from") or "")) or None,
                    version_to=vstrip(str(info.get("to") or "")) or None, run_id=run.get("run_id"), hop=hop)
                if nodes:
                    later[info["backup_id"]] = self._rolled(run, hop, nodes) + [
                        (i2["backup_id"], nodes.get(h2)) for h2, i2 in run_hops[i:]]
        root = os.path.join(self.state_dir, "backups")
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            path = os.path.join(root, name)
            if not manifest.BACKUP_ID.match(name) or os.path.islink(path) or not os.path.isdir(path):
                shown = safetext.clean(name, one_line=True)
                out_[shown] = entry(shown, corrupt=[_("{file}: not a backup directory").format(
                    file=safetext.clean(path, one_line=True))])
                continue
            b = out_.setdefault(name, entry(name))
            for f in sorted(os.listdir(path)):
                if not f.endswith(".json"):
                    continue  # e.g. the temporary file of a write that was cut short
                m, why = self.read(os.path.join(path, f), lambda p, name=name: manifest.load(p, name))
                if why:
                    b["corrupt"].append("%s: %s" % (safetext.clean(os.path.join(path, f), one_line=True), why))
                    continue
                b["manifests"][f[:-5]] = m
            for m in b["manifests"].values():
                b["version"] = b["version"] or vstrip(m["version_from"])
                b["version_to"] = b["version_to"] or vstrip(m["version_to"])
                b["timestamp"] = min(t for t in (b["timestamp"], m["timestamp"]) if t)
        for backup_id, chain in later.items():
            self._per_node(out_, out_[backup_id], chain)
        return out_

    @staticmethod
    def _rolled(run, hop, nodes):
        """[(backup_id, nodes)] for the first wave of a rolled hop (the journal's hop_waves): its backup
        holds every node of every wave, and the first wave changed them all (its `first` steps, e.g.
        the expand half of the migrations on the primary), so a rollback to it restores them all,
        whichever waves had begun. [] for any other hop."""
        waves = rolling.wave_hops(run, hop)
        if len(waves) == 1:
            return []
        return [(run["hop_info"][hop]["backup_id"], sorted({n for h in waves for n in nodes.get(h) or []}))]

    def _per_node(self, found, b, chain):
        """A mixed cluster's run (its journal's hop_nodes): a hop backs up only the nodes it upgrades.
        Rolling back to the backup before hop N takes each node back to where it was then: the nodes
        of hop N from this backup, every other node from the backup of the first later hop of the run
        that upgraded it (it had not changed until then). b["node_backup"]: {node: backup_id}; a node
        that no hop from N on upgraded is untouched by the run since: b["untouched"], left as it is."""
        b["node_backup"], b["untouched"] = {}, []
        for node in self.node_names:
            for backup_id, names in chain:
                if isinstance(names, list) and node in names:
                    b["node_backup"][node] = backup_id
                    m = found.get(backup_id, {}).get("manifests", {}).get(node)
                    if m is not None and node not in b["manifests"]:
                        b["manifests"][node] = m
                    break
            else:
                b["untouched"].append(node)

    def restored(self, b):
        """The nodes a rollback to backup b restores: every node but those its run left untouched since."""
        return [n for n in self.node_names if n not in b.get("untouched", ())]

    @staticmethod
    def node_backup(b, node):
        """The backup that holds the node's files for a rollback to backup b (its own id, or a later hop's
        of the same run for a node b's hop did not upgrade: _per_node)."""
        return b.get("node_backup", {}).get(node, b["backup_id"])

    def backup_ids(self):
        """Newest first (ids are backup_YYYYmmdd_HHMMSS)."""
        return sorted(self.backups(), reverse=True)

    def problem(self, b):
        """Why the controller's own records say a backup cannot be used (None: it looks usable)."""
        if b["corrupt"]:
            return "; ".join(b["corrupt"])
        missing = [n for n in self.restored(b) if n not in b["manifests"]]
        if len(missing) == len(self.restored(b)):
            return _("the backup phase did not finish: no manifest was collected")
        if missing:
            return _("no manifest of node(s) {nodes}").format(nodes=", ".join(missing))
        for node, m in sorted(b["manifests"].items()):
            if m.get("backup_status") != "completed" or not m.get("verification_passed"):
                return _("node {node}: the backup is not complete").format(node=node)
        return None

    # -- history (design §4.4.3.1) --------------------------------------------------------------
    def history(self):
        data = state.read_json(self.history_path) or {}
        data.setdefault("rollback_history", [])
        data.setdefault("available_backups", [])
        return data

    def save_history(self, data):
        state.atomic_write_json(self.history_path, data)

    def record(self, entry):
        data = self.history()
        items = [e for e in data["rollback_history"] if e["rollback_id"] != entry["rollback_id"]]
        data["rollback_history"] = items + [entry]
        self.save_history(data)

    def remember_available(self, rows):
        data = self.history()
        data["available_backups"] = rows
        self.save_history(data)

    def latest(self):
        """The backup that undoes the most recent upgrade run not rolled back yet: the one taken
        before its first hop (the version the cluster had before that run). A completed rollback
        to a backup of run X undoes X and every run made after X before that rollback."""
        runs = self.runs()
        index = {r.get("run_id"): i for i, r in enumerate(runs)}
        undone = set()
        for e in self.history()["rollback_history"]:
            if e.get("status") != "completed":
                continue
            if e.get("upgrade_run") in index:
                later = runs[index[e["upgrade_run"]]:]
            elif e.get("upgrade_run_created"):  # its run was pruned (retention keeps its start time)
                later = [r for r in runs if (r.get("created") or "") >= e["upgrade_run_created"]]
            else:
                continue
            for r in later:
                if (r.get("created") or "") <= (e.get("timestamp") or ""):
                    undone.add(r.get("run_id"))
        for run in reversed(runs):
            info = dict(self.hops(run)).get("hop1")
            if info and run.get("run_id") not in undone:
                return info["backup_id"]
        return None
