"""Backup manifests against the schema: a corrupt or incomplete one, or anything stray in
<state_dir>/backups, shows as corrupt (with the file named) and never breaks the catalogue (M4)."""
import os

import pytest
from test_rollback import NODES, add_run, manifest

from drupgrade import catalog, rollback, state
from drupgrade import manifest as manifests


def test_a_manifest_as_the_backup_step_writes_it_passes():
    m = manifest("backup_20261128_100001", "1.0.0", "2.2.0")
    assert manifests.problem(m, "backup_20261128_100001") is None
    assert "another backup" in manifests.problem(m, "backup_20261128_100002")


def _set(path, value):
    def change(m):
        d = m
        for k in path[:-1]:
            d = d[k]
        if value is KeyError:
            del d[path[-1]]
        else:
            d[path[-1]] = value
        return m
    return change


# Each kind of bad manifest: (what is done to a good one, text expected in the reason).
BAD = {
    "no_timestamp": (_set(["timestamp"], KeyError), "timestamp"),
    "size_is_text": (_set(["backup_files", "program_directory", "size"], "10"), "/backup_files/program_directory/size"),
    "passed_is_text": (_set(["verification_passed"], "yes"), "/verification_passed"),
    "file_is_a_path": (_set(["backup_files", "system_config", "file"], "../../etc/shadow"), "/file"),
    "source_path_climbs": (_set(["backup_files", "program_directory", "source_path"], "/opt/../etc"), "source_path"),
    "config_path_has_a_newline": (_set(["backup_files", "system_config", "config_paths"], ["/etc/drp\n/etc"]),
                                  "config_paths"),
    "release_is_code": (_set(["backup_files", "program_directory", "release"], "$(reboot)"), "release"),
    "sha256_not_hex": (_set(["backup_files", "program_directory", "sha256"], "zz"), "sha256"),
    "no_files": (_set(["backup_files"], {}), "backup_files"),
    "timestamp_is_a_number": (_set(["timestamp"], 12), "timestamp"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_kind_of_bad_manifest_is_refused_with_where(kind):
    change, where = BAD[kind]
    why = manifests.problem(change(manifest("backup_20261128_100001", "1.0.0", "2.2.0")))
    assert why and where in why, why


def _catalogue_survives(d, backup_id=None):
    """Every catalogue method and the rows of list/history: no exception; the rows."""
    cat = catalog.Catalog(d, NODES)
    backups = cat.backups()
    ids = cat.backup_ids()
    rows = [rollback.available_row(backups[i], cat.problem(backups[i])) for i in ids]
    cat.latest()
    cat.history()
    rb = rollback.Rollback.__new__(rollback.Rollback)
    rb.catalog = cat
    assert rb.known_rows() == rows
    for r in rows:
        rollback.status_text(r)
    return {r["backup_id"]: r for r in rows}


RAW = {
    "truncated_json": b'{"backup_id": "backup_20261128_100001", "timest',
    "not_an_object": b'["backup_20261128_100001"]',
    "a_string": b'"completed"',
    "empty": b"",
    "not_utf8": b'{"backup_id": "\xff\xfe"}',
    "too_large": b" " * (manifests.MAX_BYTES + 1) + b"{}",
}


@pytest.mark.parametrize("kind", sorted(RAW) + sorted(BAD))
def test_a_corrupt_manifest_shows_as_corrupt_and_breaks_nothing(tmp_path, kind):
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["1.0.0", "2.2.0"]])
    good = add_run(d, "run_0", "2026-11-27T10:00:00", [["1.0.0", "1.5.0"]])["hop1"]["backup_id"]
    backup_id = info["hop1"]["backup_id"]
    path = os.path.join(d, "backups", backup_id, "node2.json")
    if kind in RAW:
        with open(path, "wb") as f:
            f.write(RAW[kind])
    else:
        state.atomic_write_json(path, BAD[kind][0](manifest(backup_id, "1.0.0", "2.2.0")))
    rows = _catalogue_survives(d)
    row = rows[backup_id]
    assert row["status"] == "corrupt" and path in row["reason"], row
    assert rows[good]["status"] == "ready"
    assert catalog.Catalog(d, NODES).latest() == backup_id  # still the run to undo: start() refuses it
    if kind == "too_large":
        assert "larger than" in row["reason"]


def test_stray_entries_in_the_backups_directory_are_corrupt_rows(tmp_path):
    d = str(tmp_path)
    good = add_run(d, "run_0", "2026-11-27T10:00:00", [["1.0.0", "1.5.0"]])["hop1"]["backup_id"]
    root = os.path.join(d, "backups")
    with open(os.path.join(root, "README"), "w") as f:
        f.write("notes\n")
    os.makedirs(os.path.join(root, "old\x1b[2J"))
    os.symlink("/etc", os.path.join(root, "backup_20261128_100001"))
    os.makedirs(os.path.join(root, good, "node9.json"))  # a directory where a manifest should be
    with open(os.path.join(root, good, "node1.json.tmp.123"), "w") as f:
        f.write("{")  # a write cut short: not a manifest
    os.makedirs(os.path.join(d, "runs", "stray-dir"))
    with open(os.path.join(d, "runs", "stray-file"), "w") as f:
        f.write("x")
    os.makedirs(os.path.join(d, "runs", "run_bad"))
    with open(os.path.join(d, "runs", "run_bad", "journal.json"), "w") as f:
        f.write('{"run_id": ')
    rows = _catalogue_survives(d)
    assert rows["README"]["status"] == "corrupt" and "not a backup directory" in rows["README"]["reason"]
    assert rows["old[2J"]["status"] == "corrupt"  # the name is shown without its escape character
    assert rows["backup_20261128_100001"]["status"] == "corrupt"  # a symlink is not ours
    assert rows[good]["status"] == "corrupt" and "node9.json" in rows[good]["reason"]


def test_a_journal_whose_hops_do_not_name_backups_is_left_out(tmp_path):
    d = str(tmp_path)
    state.atomic_write_json(os.path.join(d, "runs", "run_1", "journal.json"), {
        "run_id": "run_1", "created": "2026-11-28T10:00:00",
        "hop_info": {"hop1": {"backup_id": "../../etc", "from": "1.0.0", "to": "2.2.0"}, "hop2": "x", "x": {}}})
    assert _catalogue_survives(d) == {}
    assert catalog.Catalog(d, NODES).latest() is None
