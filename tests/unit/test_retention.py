"""Retention without a lab: which backups and runs go ([backup] keep, rollback_tool prune), what is
never removed, and that the catalogue ('list', 'latest', 'history') stays right afterwards."""
import os

import pytest
from test_rollback import manifest

from drupgrade import i18n, retention, state
from drupgrade.catalog import Catalog

NODES = ("node1", "node2")


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


def add_run(d, run_id, created, hops, complete=True, status="done"):
    """A run journal with one backup per hop (collected manifests unless complete is False)."""
    hop_info = {}
    for i, (src, dst) in enumerate(hops, 1):
        day, clock = created.replace("-", "").replace(":", "").split("T")
        backup_id = "backup_%s_%s%02d" % (day, clock[:4], i)  # as the engine names them
        hop_info["hop%d" % i] = {"backup_id": backup_id, "from": src, "to": dst}
        for n in NODES if complete else NODES[:1]:
            state.atomic_write_json(os.path.join(d, "backups", backup_id, n + ".json"),
                                    dict(manifest(backup_id, src, dst), timestamp=created + "Z"))
    state.atomic_write_json(os.path.join(d, "runs", run_id, "journal.json"), {
        "run_id": run_id, "created": created, "hops": hops, "hop_info": hop_info, "status": status,
        "events": []})
    os.makedirs(os.path.join(d, "logs", run_id, "node1"), exist_ok=True)
    return [hop_info["hop%d" % (i + 1)]["backup_id"] for i in range(len(hops))]


def add_session(d, rid, backup_id, upgrade_run, status):
    state.atomic_write_json(os.path.join(d, "rollbacks", rid, "journal.json"), {
        "run_id": rid, "backup_id": backup_id, "upgrade_run": upgrade_run, "status": status})


def catalog(d):
    return Catalog(d, NODES)


def select(d, keep, **kw):
    return retention.select(catalog(d), keep, rollbacks=retention.sessions(d), **kw)


def test_keeps_the_n_newest_complete_backups_and_removes_older_runs_whole(tmp_path):
    d = str(tmp_path)
    b1 = add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    b2 = add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"], ["2.0.0", "2.1.0"]])
    b3 = add_run(d, "run_3", "2026-01-03T10:00:00", [["2.1.0", "2.2.0"]])
    sel = select(d, 2, current_run="run_3")
    # The two newest complete backups are run_3's and run_2's second hop: run_2 is kept whole.
    assert sel.runs == ["run_1"] and sel.backups == b1
    assert set(sel.kept) == set(b2 + b3)
    assert sel.why(b3[0]) == "one of the 2 newest complete backups"
    assert sel.why(b2[0]) == "belongs to a kept run (run_2)"
    assert sel.versions == ["1.5.0"]  # what only run_1 went to: its package and unpacked package


def test_never_the_newest_complete_backup_even_with_keep_1_or_0(tmp_path):
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    b2 = add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])
    add_run(d, "run_3", "2026-01-03T10:00:00", [["2.0.0", "2.2.0"]], complete=False, status="failed")
    for keep in (0, 1):
        sel = select(d, keep)
        assert b2[0] in sel.kept and sel.runs == ["run_1"]
        assert "run_3" not in sel.runs  # newer than the newest complete backup: kept


def test_a_failed_run_between_kept_backups_stays(tmp_path):
    """keep 2: the kept backups are run_2's and run_5's; run_1 goes; run_3 (failed in init: no
    backup) and run_4 (failed, its backup incomplete) lie between them: their journals, logs and
    backups stay."""
    d = str(tmp_path)
    b1 = add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    b2 = add_run(d, "run_2", "2026-01-02T10:00:00", [["1.0.0", "1.5.0"]])
    add_run(d, "run_3", "2026-01-03T10:00:00", [], status="failed")
    b4 = add_run(d, "run_4", "2026-01-04T10:00:00", [["1.5.0", "2.0.0"]], complete=False, status="failed")
    b5 = add_run(d, "run_5", "2026-01-05T10:00:00", [["1.5.0", "2.0.0"]])
    sel = select(d, 2, current_run="run_5")
    assert sel.runs == ["run_1"] and sel.backups == b1
    assert set(sel.kept) == set(b2 + b4 + b5)


def test_the_newest_runs_keep_their_logs_even_without_a_backup(tmp_path):
    """A run that failed in init (no backup) and the run that started over after it: with keep 3
    both stay (the failure's journal and logs are what the operator reads next); with keep 1 only
    the newest run is among the newest runs, and the failed one goes."""
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [], status="restarted")
    b2 = add_run(d, "run_2", "2026-01-01T10:05:00", [["2.1.0", "2.2.0"]])
    assert select(d, 3, current_run="run_2").runs == []
    sel = select(d, 1, current_run="run_2")
    assert sel.runs == ["run_1"] and sel.backups == [] and set(sel.kept) == set(b2)


def test_nothing_goes_while_no_backup_is_complete(tmp_path):
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]], complete=False)
    add_run(d, "run_2", "2026-01-02T10:00:00", [["1.0.0", "1.5.0"]], complete=False)
    assert select(d, 1).empty()


def test_never_the_backup_latest_names(tmp_path):
    d = str(tmp_path)
    b1 = add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])
    b3 = add_run(d, "run_3", "2026-01-03T10:00:00", [["2.0.0", "2.2.0"]])
    cat = catalog(d)
    for rid, ts in (("r3", "2026-01-04T10:00:00Z"), ("r2", "2026-01-05T10:00:00Z")):
        cat.record({"rollback_id": rid, "status": "completed", "timestamp": ts,
                    "upgrade_run": "run_" + rid[1]})
    assert cat.latest() == b1[0]  # run_3 and run_2 were rolled back
    sel = select(d, 1)
    assert sel.why(b1[0]) == "the backup 'auto latest' rolls back to" and b3[0] in sel.kept
    assert sel.runs == ["run_2"]


def test_never_a_backup_an_unfinished_rollback_session_uses(tmp_path):
    d = str(tmp_path)
    b1 = add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    b2 = add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])
    add_run(d, "run_3", "2026-01-03T10:00:00", [["2.0.0", "2.2.0"]])
    add_session(d, "rollback_a", b1[0], "run_1", "running")  # a manual session between two steps
    add_session(d, "rollback_b", b2[0], "run_2", "done")
    sel = select(d, 1, current_rollback="rollback_a")
    assert sel.why(b1[0]) == "used by the unfinished rollback session rollback_a"
    assert sel.runs == ["run_2"] and sel.rollbacks == ["rollback_b"]
    add_session(d, "rollback_b", b2[0], "run_2", "failed")  # failed: auto latest continues it
    sel = select(d, 1, current_rollback="rollback_a")
    assert sel.runs == [] and sel.rollbacks == []


def test_the_current_run_is_never_removed(tmp_path):
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]], status="failed")
    add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])
    assert select(d, 1).runs == ["run_1"]
    assert select(d, 1, current_run="run_1").runs == []


def test_orphan_and_incomplete_backups_older_than_the_newest_complete_go(tmp_path):
    d = str(tmp_path)
    state.atomic_write_json(os.path.join(d, "backups", "backup_20251231_100000", "node1.json"),
                            {"backup_id": "backup_20251231_100000", "timestamp": "2025-12-31T10:00:00Z"})
    b1 = add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]], complete=False, status="failed")
    add_run(d, "run_2", "2026-01-02T10:00:00", [["1.0.0", "1.5.0"]])
    state.atomic_write_json(os.path.join(d, "backups", "backup_20990101_000000", "node1.json"), {})
    sel = select(d, 1)
    assert sel.runs == ["run_1"]
    assert sorted(sel.backups) == sorted(b1 + ["backup_20251231_100000"])
    assert "backup_20990101_000000" in sel.kept
    assert sel.versions == []  # run_2 still needs 1.5.0


def test_after_pruning_list_latest_and_history_stay_right(tmp_path):
    """The rollback to run_1's backup undid run_1 and run_2; with run_1 pruned, 'latest' must not
    come back to run_2 (the cluster is at run_1's starting version)."""
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    b2 = add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])
    cat = catalog(d)
    cat.record({"rollback_id": "r1", "status": "completed", "timestamp": "2026-01-03T10:00:00Z",
                "upgrade_run": "run_1"})
    cat.remember_available([{"backup_id": b} for b in cat.backup_ids()])
    assert cat.latest() is None
    pruner = retention.Pruner.__new__(retention.Pruner)
    pruner.state_dir, pruner.catalog = d, cat
    sel = select(d, 1)
    assert sel.runs == ["run_1"]
    pruner.on_controller(sel)
    assert cat.backup_ids() == b2 and [r["run_id"] for r in cat.runs()] == ["run_2"]
    assert cat.latest() is None
    hist = cat.history()
    assert [e["rollback_id"] for e in hist["rollback_history"]] == ["r1"]
    assert [r["backup_id"] for r in hist["available_backups"]] == b2
    assert sorted(os.listdir(os.path.join(d, "logs"))) == ["run_2"]
    assert sorted(os.listdir(os.path.join(d, "backups"))) == b2
    # A later run is what 'latest' names again.
    b3 = add_run(d, "run_3", "2026-01-04T10:00:00", [["1.0.0", "2.2.0"]])
    assert cat.latest() == b3[0]


def test_node_script_items_name_only_checked_paths(tmp_path):
    d = str(tmp_path)
    add_run(d, "run_1", "2026-01-01T10:00:00", [["1.0.0", "1.5.0"]])
    add_run(d, "run_2", "2026-01-02T10:00:00", [["1.5.0", "2.0.0"]])

    class Ops:
        def leftovers(self, v):
            return ["/var/lib/drupgrade/packages/drp-%s.tar.gz" % v], ["/var/lib/drupgrade/work/drp-%s" % v]

    pruner = retention.Pruner.__new__(retention.Pruner)
    pruner.ops = Ops()
    items = pruner.items(select(d, 1))
    assert items == ["backup=backup_20260101_100001", "runs=run_1",
                     "file=/var/lib/drupgrade/packages/drp-1.5.0.tar.gz", "work=/var/lib/drupgrade/work/drp-1.5.0"]
