"""The rollback's controller logic without a lab: the backup catalogue, latest, the session's
step bookkeeping, answers, and the progress box (design §4.4.4.1)."""
import json
import os
import threading
import unicodedata

import pytest

from drupgrade import catalog, i18n, procs, rollback, state
from drupgrade.commands.rollback import _session, step
from drupgrade.errors import EXIT_CONFIRM, EXIT_FAILED, EXIT_USAGE, DrupgradeError
from drupgrade.journal import Journal

NODES = ("node1", "node2", "node3")


def manifest(backup_id, src, dst, status="completed"):
    """What 40-backup_local.sh writes (the schema's required fields and the usual optional ones)."""
    return {"backup_id": backup_id, "timestamp": "2026-11-28T10:00:00Z", "node": "node1", "roles": ["app"],
            "version_from": "v" + src, "version_to": "v" + dst, "backup_status": status,
            "verification_passed": status == "completed",
            "layers": {"L1": "system_config", "L2": "program_directory"},
            "backup_files": {
                "program_directory": {"file": "program_directory.tar.gz", "size": 10, "sha256": "ab" * 32,
                                      "md5": "cd" * 16, "source_path": "/opt/drp-releases/%s/" % src,
                                      "release": src, "link": "/opt/drp", "tree_sha256": "ef" * 32,
                                      "meta_sha256": "01" * 32},
                "system_config": {"file": "system_config.tar.gz", "size": 2, "sha256": "23" * 32,
                                  "config_paths": ["/etc/drp", "/etc/systemd/system/drp-app.service"]}}}


def add_run(state_dir, run_id, created, hops, collected=True, hop_nodes=None):
    """A run's journal and its backups' manifests; hop_nodes (a mixed cluster's run): {hopN: [node, …]},
    the nodes each hop upgraded and backed up."""
    hop_info = {}
    for i, (src, dst) in enumerate(hops, 1):
        day, clock = created.replace("-", "").replace(":", "").split("T")
        backup_id = "backup_%s_%s%02d" % (day, clock[:4], i)
        hop_info["hop%d" % i] = {"backup_id": backup_id, "from": src, "to": dst}
        if collected:
            for n in (hop_nodes or {}).get("hop%d" % i, NODES):
                state.atomic_write_json(os.path.join(state_dir, "backups", backup_id, n + ".json"),
                                        manifest(backup_id, src, dst))
    data = {"run_id": run_id, "created": created, "hops": hops, "hop_info": hop_info, "status": "done", "events": []}
    if hop_nodes:
        data["hop_nodes"] = hop_nodes
    state.atomic_write_json(os.path.join(state_dir, "runs", run_id, "journal.json"), data)
    return hop_info


def test_a_rolled_hops_waves_are_one_backup_of_every_node(tmp_path):
    """The waves of a rolled hop (one hop each in the journal) share their first wave's backup, which
    holds every node: a rollback to it restores them all, whichever wave the run ended in."""
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.2.0", "2.3.0"]], hop_nodes={"hop1": list(NODES)})
    point = info["hop1"]["backup_id"]
    path = os.path.join(d, "runs", "run_1", "journal.json")
    data = state.read_json(path)
    data["hops"] = [["2.2.0", "2.3.0"]] * 3
    data["hop_nodes"] = {"hop1": ["node2"], "hop2": ["node3"], "hop3": ["node1"]}
    data["hop_waves"] = {"hop1": [1, 3], "hop2": [2, 3], "hop3": [3, 3]}
    data["hop_info"].update({h: dict(data["hop_info"]["hop1"]) for h in ("hop2", "hop3")})
    state.atomic_write_json(path, data)
    cat = catalog.Catalog(d, NODES)
    b = cat.backups()[point]
    assert list(cat.backups()) == [point] and b["hop"] == "hop1"
    assert cat.restored(b) == list(NODES) and b["untouched"] == [] and cat.problem(b) is None
    assert {n: cat.node_backup(b, n) for n in NODES} == {n: point for n in NODES}
    # The run stopped in the second wave: node1's wave never began, yet the first wave changed it
    # (the expand half on the primary), so the rollback restores it too.
    del data["hop_info"]["hop3"]
    state.atomic_write_json(path, data)
    b = catalog.Catalog(d, NODES).backups()[point]
    assert cat.restored(b) == list(NODES) and b["untouched"] == [] and cat.problem(b) is None


def test_a_mixed_runs_backup_takes_each_node_back_from_the_first_hop_that_upgraded_it(tmp_path):
    """node3 (2.0.0) caught up alone in hop 1, then the cluster went on together: the backup before
    hop 1 restores node3 from itself and node1, node2 (on 2.1.0 until hop 2) from hop 2's backup."""
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.0.0", "2.1.0"], ["2.1.0", "2.2.0"]],
                   hop_nodes={"hop1": ["node3"], "hop2": list(NODES)})
    cat = catalog.Catalog(d, NODES)
    first, second = info["hop1"]["backup_id"], info["hop2"]["backup_id"]
    b = cat.backups()[first]
    assert cat.latest() == first and cat.problem(b) is None and cat.restored(b) == list(NODES)
    assert {n: cat.node_backup(b, n) for n in NODES} == {"node1": second, "node2": second, "node3": first}
    assert b["manifests"]["node1"]["version_from"] == "v2.1.0" and b["manifests"]["node3"]["version_from"] == "v2.0.0"
    # The run only finished node3's upgrade (target 2.1.0): node1 and node2 are left as they are.
    info = add_run(d, "run_2", "2026-11-28T11:00:00", [["2.0.0", "2.1.0"]], hop_nodes={"hop1": ["node3"]})
    b = cat.backups()[info["hop1"]["backup_id"]]
    assert cat.restored(b) == ["node3"] and b["untouched"] == ["node1", "node2"] and cat.problem(b) is None
    # A uniform run's backup needs every node's manifest, as before.
    info = add_run(d, "run_3", "2026-11-28T12:00:00", [["2.1.0", "2.2.0"]])
    os.remove(os.path.join(d, "backups", info["hop1"]["backup_id"], "node1.json"))
    assert "node1" in cat.problem(cat.backups()[info["hop1"]["backup_id"]])


def test_backups_from_journals_and_manifests(tmp_path):
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.0.0", "2.1.0"]])
    cat = catalog.Catalog(d, NODES)
    b = cat.backups()[info["hop1"]["backup_id"]]
    assert (b["version"], b["version_to"], b["run_id"], b["hop"]) == ("2.0.0", "2.1.0", "run_1", "hop1")
    assert sorted(b["manifests"]) == list(NODES)
    assert cat.problem(b) is None


def test_a_backup_is_not_usable_when_a_node_or_its_completion_is_missing(tmp_path):
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.0.0", "2.1.0"]])
    backup_id = info["hop1"]["backup_id"]
    os.remove(os.path.join(d, "backups", backup_id, "node3.json"))
    cat = catalog.Catalog(d, NODES)
    assert "node3" in cat.problem(cat.backups()[backup_id])
    state.atomic_write_json(os.path.join(d, "backups", backup_id, "node3.json"),
                            manifest(backup_id, "2.0.0", "2.1.0", status="running"))
    assert "not complete" in cat.problem(cat.backups()[backup_id])
    info = add_run(d, "run_2", "2026-11-28T11:00:00", [["2.0.0", "2.1.0"]], collected=False)
    assert "did not finish" in cat.problem(cat.backups()[info["hop1"]["backup_id"]])


def test_latest_undoes_the_last_run_not_rolled_back_from_before_its_first_hop(tmp_path):
    d = str(tmp_path)
    a = add_run(d, "run_a", "2026-11-28T10:00:00", [["1.0.0", "1.5.0"], ["1.5.0", "2.0.0"]])
    b = add_run(d, "run_b", "2026-11-28T11:00:00", [["2.0.0", "2.2.0"]])
    cat = catalog.Catalog(d, NODES)
    assert cat.latest() == b["hop1"]["backup_id"]
    cat.record({"rollback_id": "rollback_001", "status": "failed", "upgrade_run": "run_b",
                "timestamp": "2026-11-28T12:00:00Z"})
    assert cat.latest() == b["hop1"]["backup_id"]  # a failed rollback does not count
    cat.record({"rollback_id": "rollback_001", "status": "completed", "upgrade_run": "run_b",
                "timestamp": "2026-11-28T12:00:00Z"})
    assert cat.latest() == a["hop1"]["backup_id"]  # the version before run_a, not its second hop
    cat.record({"rollback_id": "rollback_002", "status": "completed", "upgrade_run": "run_a",
                "timestamp": "2026-11-28T12:30:00Z"})
    assert cat.latest() is None
    assert [e["rollback_id"] for e in cat.history()["rollback_history"]] == ["rollback_001", "rollback_002"]


def test_a_rollback_past_a_later_run_undoes_that_run_too(tmp_path):
    d = str(tmp_path)
    add_run(d, "run_a", "2026-11-28T10:00:00", [["1.0.0", "1.5.0"]])
    add_run(d, "run_b", "2026-11-28T11:00:00", [["1.5.0", "2.2.0"]])
    cat = catalog.Catalog(d, NODES)
    cat.record({"rollback_id": "r1", "status": "completed", "upgrade_run": "run_a",
                "timestamp": "2026-11-28T12:00:00Z"})
    assert cat.latest() is None  # back before run_a: run_b is undone as well
    c = add_run(d, "run_c", "2026-11-28T13:00:00", [["1.0.0", "2.2.0"]])
    assert cat.latest() == c["hop1"]["backup_id"]


class Args:
    answers = None


class Ctx:
    def __init__(self, yes=False, answers=None):
        self.yes = yes
        self.args = Args()
        self.args.answers = answers


def bare(ctx=None):
    rb = rollback.Rollback.__new__(rollback.Rollback)
    rb.ctx = ctx or Ctx()
    return rb


def test_a_question_on_a_non_tty_needs_yes_or_an_answer(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    with pytest.raises(DrupgradeError) as e:
        bare().ask("rollback.unfinished", "continue?", ("continue", "abandon"), "continue")
    assert e.value.code == EXIT_CONFIRM and "rollback.unfinished" in e.value.hint
    assert bare(Ctx(yes=True)).ask("rollback.unfinished", "?", ("continue", "abandon"), "continue") == "continue"
    p = tmp_path / "a"
    p.write_text("rollback.unfinished = abandon\n", encoding="utf-8")
    assert bare(Ctx(answers=str(p))).ask("rollback.unfinished", "?", ("continue", "abandon"), "continue") == "abandon"
    p.write_text("rollback.unfinished = maybe\n", encoding="utf-8")
    with pytest.raises(DrupgradeError) as e:
        bare(Ctx(answers=str(p))).ask("rollback.unfinished", "?", ("continue", "abandon"), "continue")
    assert e.value.code == EXIT_USAGE


def test_session_steps_next_and_rerun(tmp_path):
    j = Journal.create(str(tmp_path), "rollback_001", backup_id="backup_20261128_100000", mode="manual",
                             to_version="2.1.0", steps={})
    rb = bare()
    assert rb.next_step(j) == 1
    for n in (1, 2, 3):
        j.set_session_step(n, status="done")
    j.data["results"] = {"rollback/rollback_db/node1": {"status": "ok"},
                         "rollback/rollback_program/node1": {"status": "ok"},
                         "rollback/rollback_program/node2": {"status": "running"},
                         "rollback/rollback_stop/node1": {"status": "ok"}}
    assert rb.next_step(j) == 4
    rb.rerun_from(j, 2)
    r = Journal.load(j.path).data["results"]
    assert r["rollback/rollback_db/node1"]["status"] == "retry"
    assert r["rollback/rollback_program/node1"]["status"] == "retry"
    assert r["rollback/rollback_program/node2"]["status"] == "running"  # re-attached, never started twice
    assert r["rollback/rollback_stop/node1"]["status"] == "ok"
    assert rb.next_step(j) == 2
    j.set_session_step(2, status="done")
    j.set_session_step(3, status="done")
    j.set_session_step(4, status="done")
    rb.rerun_from(j, 2)  # stepN: n again, and the later steps pending (they ran on what n restores)
    assert [rb.step_state(j, n) for n in (1, 2, 3, 4)] == ["done", "pending", "pending", "pending"]
    assert rb.next_step(j) == 2


class Held:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_step_of_a_completed_session_is_refused(tmp_path, monkeypatch):
    """Issue 19: step2 after the rollback completed re-restored the database and left drp-db stopped,
    and `auto latest` then "continued" at step 6 without 3-5. A completed session refuses every step
    (exit 2, nothing touched) and names the commands that restore again."""
    j = Journal.create(str(tmp_path), "rollback_001", backup_id="backup_20261128_100000", mode="manual",
                       to_version="1.0.0", steps={})
    for n in rollback.numbers():
        j.set_session_step(n, status="done")
    j.set(status="done")

    class Fake(Held):
        def __init__(self, ctx):
            pass

        def lock(self, what):
            return Held()

        def current(self):
            return j

        def claim_nodes(self, *a):
            raise AssertionError("a node was touched")

    monkeypatch.setattr(rollback, "Rollback", Fake)
    for n in rollback.numbers():
        with pytest.raises(DrupgradeError) as e:
            step.StepCommand(n).run(Ctx())
        assert e.value.code == EXIT_USAGE
        assert e.value.message == ("rollback rollback_001 to backup backup_20261128_100000 is complete; step %d is "
                                   "not run again on the rolled-back cluster" % n)
        assert "'bin/rollback_tool auto_continue_from %d'" % n in e.value.hint
        assert "'bin/rollback_tool manual backup_20261128_100000'" in e.value.hint


def cells(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_progress_box(lang):
    i18n.set_lang(lang)
    try:
        states = {1: "done", 2: "done", 3: "running", 4: "pending", 5: "pending", 6: "pending"}
        est = {n: 30 for n in states}
        lines = rollback.box_lines("T", states, "2026-11-28 15:30:00", 0, est, {3: 10})
        assert len({cells(line) for line in lines}) == 1, "\n".join(lines)  # a closed box
        text = "\n".join(lines)
        assert lines[0].startswith("╔") and lines[-1].startswith("╚")
        assert "✓" in text and "▶" in text and "○" in text and "33%" in text and "(2/6" in text
        if lang == "zh":
            assert "当前操作" in text and "预计剩余时间: 1分50秒" in text and "停止当前服务" in text
        else:
            assert "estimated time left: 1 min 50 s" in text and "stop the current services" in text
        done = rollback.box_lines("T", {n: "done" for n in states}, "x", 0, est, {})
        assert "100%" in "\n".join(done)
    finally:
        i18n.set_lang("en")


def test_status_tells_an_idle_manual_session_from_an_interrupted_one(tmp_path):
    j = Journal.create(str(tmp_path), "r1", backup_id="backup_20261128_100000", mode="manual",
                             to_version="1.0.0", steps={})
    rb = bare()
    assert rb.session_info(j)["status"] == "in_progress"  # between two steps: nobody runs one
    j.set_session_step(1, status="running")
    j.set(pid=os.getpid())
    assert rb.session_info(j)["status"] == "in_progress"
    assert rb.session_info(j)["current_step"] == 1
    j.set(pid=2 ** 22 + 12345)  # no such process: the tool died during step 1
    info = rb.session_info(j)
    assert info["status"] == "interrupted" and info["steps"][0]["status"] == "failed"
    assert info["next_step"] == 1
    j.set(**procs.identity())  # the tool that runs the session, by pid and start time
    assert rb.session_info(j)["status"] == "in_progress"
    j.set(pid_started=j.data["pid_started"] - 3600)  # the pid was reused: the session's tool is gone
    assert rb.session_info(j)["status"] == "interrupted"


def test_a_continued_session_verifies_the_backup_again_before_it_restores(tmp_path, monkeypatch):
    """Only before steps 2-4 (they restore from the backup); a backup that changed is refused."""
    j = Journal.create(str(tmp_path), "rollback_001", backup_id="backup_20261128_100001", mode="manual",
                             to_version="1.0.0", steps={})
    rb = bare()
    asked = []
    reason = [None]
    monkeypatch.setattr(rb, "verify_backup", lambda backup_id: asked.append(backup_id) or reason[0])
    monkeypatch.setattr(rollback, "out", lambda level, text: None)
    rb.reverify(j, [1])
    rb.reverify(j, range(5, 7))
    assert asked == []
    rb.reverify(j, [2])
    rb.reverify(j, range(4, 7))
    assert asked == ["backup_20261128_100001"] * 2
    reason[0] = "node node2: the backup file /backup/x/local_data.tar.gz is corrupted"
    with pytest.raises(DrupgradeError) as e:
        rb.reverify(j, range(3, 7))
    assert e.value.code == EXIT_FAILED and "no longer verifies" in e.value.message
    assert "local_data.tar.gz" in e.value.message and "rollback_001" in e.value.message
def test_a_stray_file_or_a_damaged_journal_in_runs_never_breaks_the_catalogue(tmp_path, caplog):
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.0.0", "2.1.0"]])
    (tmp_path / "runs" / "README").write_text("notes")
    os.makedirs(os.path.join(d, "runs", "run_2"))
    (tmp_path / "runs" / "run_2" / "journal.json").write_text('{"run_id": "run_2", "hop')  # truncated
    add_run(d, "run_3", "2026-11-28T11:00:00", [["2.1.0", "2.2.0"]])
    bad = json.load(open(os.path.join(d, "runs", "run_3", "journal.json")))
    bad["hop_info"]["hop1"]["backup_id"] = "../../etc"  # would become a path here and on the nodes
    state.atomic_write_json(os.path.join(d, "runs", "run_3", "journal.json"), bad)
    cat = catalog.Catalog(d, NODES)
    assert [r["run_id"] for r in cat.runs()] == ["run_1"]
    assert info["hop1"]["backup_id"] in cat.backups()
    assert "run_2" in caplog.text and "run_3" in caplog.text


def test_a_damaged_history_is_a_clear_error(tmp_path):
    (tmp_path / "rollback_history.json").write_text('{"rollback_history": [')
    with pytest.raises(DrupgradeError) as e:
        catalog.Catalog(str(tmp_path), NODES).history()
    assert e.value.code == EXIT_USAGE and "rollback_history.json" in e.value.message


def test_a_backup_is_restored_with_the_rollback_bindings_of_the_hop_that_made_it(tmp_path):
    """rollback.env gets the components the strategy of the backup's hop fills rollback_tool's steps
    with (DR_B_ROLLBACK_*), the restored version substituted; a backup whose hop is unknown is exit 2."""
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.1.0", "2.2.0"]])
    ctx = Ctx()
    ctx.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rb = bare(ctx)
    rb.cfg = type("Cfg", (), {"product_name": "drp"})()
    rb.catalog = catalog.Catalog(d, NODES)
    values = rb.bindings(info["hop1"]["backup_id"])
    assert values["DR_STRATEGY"] == "drp_to_v2"
    assert values["DR_B_ROLLBACK_STOP_COMPONENT"] == "service/systemd"
    assert values["DR_B_ROLLBACK_STOP_P_MATCH"] == "drp-*.service drp.target"
    assert values["DR_B_ROLLBACK_PROGRAM_P_ACTION"] == "program"
    assert "version=2.1.0" in values["DR_B_ROLLBACK_VERIFY_P_CHECK_HEALTH"]
    assert not [k for k in values if k.startswith("DR_B_") and not k.startswith("DR_B_ROLLBACK_")]
    rb.catalog.backups = lambda: {"backup_x": {"version": "2.1.0", "version_to": None}}
    with pytest.raises(DrupgradeError) as e:
        rb.bindings("backup_x")
    assert e.value.code == EXIT_USAGE and "backup_x" in e.value.message


class FakeNode:
    def __init__(self, name):
        self.name, self.roles = name, ["app"]


class FakeTransport:
    """Every command a node gets, in order per node (events); the check of a node in `bad` fails.
    The checks meet at a barrier: a check that ran before the others started never passes it."""

    def __init__(self, bad=(), together=3):
        import threading
        self.bad = set(bad)
        self.events = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(together, timeout=30)

    def run(self, node, command, timeout=None):
        from drupgrade.transport.result import CommandResult
        word = command[-2] if command[-1] == "run" else command[0]
        with self.lock:
            self.events.append((node.name, word))
        if word == rollback.CHECK_STEP:
            self.barrier.wait()  # every node's check runs at once (BrokenBarrierError otherwise)
            if node.name in self.bad:
                return CommandResult(node.name, "", 1, "", "the backup file /backup/b/local_data.tar.gz is corrupted")
        return CommandResult(node.name, "", 0, "{}", "")


class FakeRunner:
    def __init__(self, t, cfg, state_dir):
        self.t, self.cfg, self.state_dir = t, cfg, state_dir
        self.closed = False

    def transport(self):
        return self.t

    def detect_versions(self):
        with self.t.lock:
            self.t.events.append(("*", "versions"))
        return {n.name: "2.2.0" for n in self.cfg.nodes}

    def close(self, error=None):
        self.closed = True


def fake_rollback(tmp_path, monkeypatch, bad=()):
    """A Rollback whose nodes are fakes: tool installs, checks and reads are recorded per node."""
    from types import SimpleNamespace

    from drupgrade import manifest, nodelock
    t = FakeTransport(bad)
    cfg = SimpleNamespace(nodes=[FakeNode(n) for n in NODES], run={"max_parallel": 10, "fault_injection": ""},
                          paths={"node_tool_dir": "/opt/drupgrade", "node_backup_dir": "/backup"})
    files = {"local_data": {"file": "local_data.tar.gz", "sha256": "aa"}}
    b = {"backup_id": "b", "manifests": {n: {"backup_files": files} for n in NODES}, "corrupt": False,
         "version": "2.1.0", "version_to": "2.2.0", "timestamp": "t", "run_id": "run_1"}
    rb = bare()
    rb.cfg, rb.state_dir, rb.r, rb.ahead = cfg, str(tmp_path), FakeRunner(t, cfg, str(tmp_path)), {}
    rb.current_path = str(tmp_path / "current_rollback.json")
    rb.catalog = SimpleNamespace(backups=lambda: {"b": b}, problem=lambda b: None, restored=lambda b: list(NODES),
                                 node_backup=lambda b, name: "b", latest=lambda: "b", record=lambda row: None)
    monkeypatch.setattr(rb, "steps", lambda: {rollback.CHECK_STEP: SimpleNamespace(timeout=60)})
    monkeypatch.setattr(rb, "ops", lambda journal: SimpleNamespace(install_tool=lambda node: t.run(
        node, ["install_tool"])))
    monkeypatch.setattr(rb, "read_db_checksums", lambda backup_id: t.run(FakeNode("node1"), ["db_checksums"]) and "{}")
    monkeypatch.setattr(rb, "bindings", lambda backup_id: {})
    monkeypatch.setattr(nodelock, "live_runs", lambda cfg, t, nodes: {n.name: [] for n in nodes})
    monkeypatch.setattr(manifest, "parse", lambda text, own: ({"backup_files": files}, None))
    monkeypatch.setattr(rollback, "out", lambda level, text: None)
    return rb, t


def test_each_node_gets_its_tool_then_its_check_and_every_node_checks_at_once(tmp_path, monkeypatch):
    rb, t = fake_rollback(tmp_path, monkeypatch)
    assert rb.start("b", "auto")["backup_id"] == "b"
    for n in NODES:
        mine = [word for node, word in t.events if node == n and word in ("install_tool", rollback.CHECK_STEP)]
        assert mine == ["install_tool", rollback.CHECK_STEP]  # the check runs the tool just installed
    # Read beside the checks, used by the session and its context without a second read.
    assert ("*", "versions") in t.events and ("node1", "db_checksums") in t.events
    assert rb.db_checksums("b") == "{}" and rb.new_session("b", "auto").data["versions_before"] == {
        n: "2.2.0" for n in NODES}
    assert [word for _n, word in t.events].count("db_checksums") == 1 and rb.ahead == {}


def test_an_upgrade_chain_still_alive_on_a_node_is_stopped_before_the_rollback_touches_it(tmp_path, monkeypatch):
    """Chaos trial 19.83: node3's chain of the upgrade waited at a gate when another node failed and the
    automatic rollback began; it was left alive (its tool dir kept), and would have run the upgrade's
    next step on the restored node if its gate ever opened. Now it is stopped and confirmed gone first;
    a rollback session's own run (a killed rollback command's step) is left to be re-attached."""
    from types import SimpleNamespace

    from drupgrade import nodelock
    rb, t = fake_rollback(tmp_path, monkeypatch)
    live = {"node1": ["run_1.hop1.delete_services.2"], "node2": ["rollback_1.rollback_db.1"]}
    monkeypatch.setattr(nodelock, "live_runs", lambda cfg, tr, nodes: {n.name: live.get(n.name, []) for n in nodes})
    said = []
    monkeypatch.setattr(rollback, "out", lambda level, text: said.append((level, text)))

    def detached(node, run):
        return SimpleNamespace(stop=lambda: t.run(node, ["stop " + run]) and {"state": "lost", "rc": None,
                                                                               "signal": "stop"})
    t.detached = detached
    rb.start("b", "auto")
    mine = {n: [w for node, w in t.events if node == n and w in ("install_tool", "stop run_1.hop1.delete_services.2",
                                                                 "stop rollback_1.rollback_db.1")] for n in NODES}
    assert mine["node1"] == ["stop run_1.hop1.delete_services.2", "install_tool"]
    assert mine["node2"] == []  # its tool dir stays for the session's run
    assert ("warning", "node node1: the upgrade's run run_1.hop1.delete_services.2 was still alive there; it was "
                       "stopped (stop) before the rollback") in said

    def cannot(node, run):
        raise DrupgradeError("could not stop %s on node %s: no answer" % (run, node.name))
    t.detached = lambda node, run: SimpleNamespace(stop=lambda: cannot(node, run))
    t.barrier = threading.Barrier(2, timeout=30)  # node1 never gets to its check: the other two do
    with pytest.raises(DrupgradeError) as e:
        rb.start("b", "auto")
    assert "run_1.hop1.delete_services.2 still lives there and could not be stopped" in e.value.message
    assert e.value.code == EXIT_FAILED and "nothing was changed" in e.value.hint


def test_a_check_that_fails_on_one_node_stops_the_rollback_before_any_step_on_any_node(tmp_path, monkeypatch):
    from drupgrade.commands.rollback import auto
    rb, t = fake_rollback(tmp_path, monkeypatch, bad=("node2",))
    monkeypatch.setattr(rb, "claim_nodes", lambda journal, what: None)
    ran = []
    monkeypatch.setattr(rb, "auto", lambda journal, first=1: ran.append("steps"))
    monkeypatch.setattr(rb, "write_env", lambda journal: ran.append("context"))
    monkeypatch.setattr(rollback, "Rollback", lambda ctx: rb)
    ctx = Ctx(yes=True)
    ctx.args.backup = "latest"
    with pytest.raises(DrupgradeError) as e:
        auto.run(ctx)
    assert e.value.code == EXIT_FAILED and "backup b cannot be used" in e.value.message
    assert "node node2" in e.value.message and "nothing was changed" in e.value.hint
    assert ran == [] and not os.path.exists(rb.current_path)  # no session, no context, no step
    words = {word for _node, word in t.events}
    assert words <= {"install_tool", rollback.CHECK_STEP, "head", "versions", "db_checksums"}
    assert {n for n, word in t.events if word == rollback.CHECK_STEP} == set(NODES)  # every node was checked
    assert rb.r.closed


def test_the_catalogue_reads_a_journal_or_manifest_again_only_when_it_changed(tmp_path, monkeypatch):
    d = str(tmp_path)
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.0.0", "2.1.0"]])
    cat = catalog.Catalog(d, NODES)
    loads = []
    real = Journal.load
    monkeypatch.setattr(Journal, "load", classmethod(lambda cls, path: loads.append(path) or real(path)))
    b = info["hop1"]["backup_id"]
    first = cat.backups()
    assert set(first[b]["manifests"]) == set(NODES)
    first[b]["manifests"].clear()
    assert set(cat.backups()[b]["manifests"]) == set(NODES)  # a caller's change never reaches the cache
    assert len(loads) == 1
    path = os.path.join(d, "runs", "run_1", "journal.json")
    j = real(path)
    j.set(status="rolled_back")  # replaced by a rename: read again
    cat.latest()
    assert len(loads) == 2


def rolled_run(d, results=None, hops=3):
    """A run whose one hop 2.2.0 -> 2.3.0 rolled in three waves (node2 | node3 | node1), its results."""
    info = add_run(d, "run_1", "2026-11-28T10:00:00", [["2.2.0", "2.3.0"]], hop_nodes={"hop1": list(NODES)})
    path = os.path.join(d, "runs", "run_1", "journal.json")
    data = state.read_json(path)
    data.update(hops=[["2.2.0", "2.3.0"]] * hops, hop_nodes={"hop1": ["node2"], "hop2": ["node3"], "hop3": ["node1"]},
                hop_waves={"hop1": [1, 3], "hop2": [2, 3], "hop3": [3, 3]}, results=results or {})
    data["hop_info"].update({h: dict(data["hop_info"]["hop1"]) for h in ("hop2", "hop3")})
    state.atomic_write_json(path, data)
    return info["hop1"]["backup_id"]


def online_rollback(d):
    ctx = Ctx()
    ctx.root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rb = bare(ctx)
    rb.cfg = type("Cfg", (), {"product_name": "drp"})()
    rb.catalog = catalog.Catalog(d, NODES)
    return rb


def test_a_rolled_hop_rolls_back_node_by_node_until_its_contract_half_began(tmp_path):
    """A rollback to a rolled hop's backup goes wave by wave in the roll's order (the primary last), with
    the strategy's rollback_online components (the expand half undone, no dump restored), once the first
    wave ended its `first` steps and as long as the contract half did not begin on any node; otherwise
    every node stops and the dump comes back."""
    d = str(tmp_path)
    first = {"hop1/unzip/%s" % n: {"status": "ok"} for n in NODES}
    first.update({"hop1/db_migrate/node1": {"status": "ok"}, "hop1/db_data_upgrade/node1": {"status": "ok"}})
    point = rolled_run(d, dict(first, **{"hop2/check_services/node3": {"status": "failed"}}))
    rb = online_rollback(d)
    assert rb.online_waves(point) == [["node2"], ["node3"], ["node1"]]
    online = rb.bindings(point, online=True)
    assert online["DR_B_ROLLBACK_DB_COMPONENT"] == "service/mariadb" and online["DR_B_ROLLBACK_DB_P_ACTION"] == "undo"
    assert online["DR_B_ROLLBACK_DB_P_UNDO"] == "/var/lib/drupgrade/work/drp-2.3.0/bin/drp-migrate --rollback-to 2.2.0"
    assert online["DR_B_ROLLBACK_STOP_P_UNITS"] == "drp-app.service drp-events.service drp-kmc.service"
    assert online["DR_B_ROLLBACK_STOP_P_MATCH"] == ""  # the database and etcd keep running
    assert "DR_B_ROLLBACK_VERIFY_P_CHECK_TABLES" not in online  # the database kept serving: no dump's checksums
    assert rb.bindings(point)["DR_B_ROLLBACK_DB_P_ACTION"] == "recover"  # the way back with every node stopped
    rolled_run(d, dict(first, **{"hop3/db_contract/node1": {"status": "running"}}))
    assert rb.online_waves(point) is None
    rolled_run(d, dict(first, **{"hop3/db_contract/node1": {"status": "queued"}}))  # waits in the chain: not begun
    assert rb.online_waves(point) == [["node2"], ["node3"], ["node1"]]
    rolled_run(d, dict(first, **{"hop4/stop_services/node1": {"status": "ok"}}), hops=4)  # a later hop began
    assert rb.online_waves(point) is None
    # The first wave failed before it ended its `first` steps (the package unpacked, the expand half):
    # the undo may not be there; every node stops together and the dump comes back.
    rolled_run(d, dict(first, **{"hop1/unzip/node1": {"status": "failed"}}))
    assert rb.online_waves(point) is None
    rolled_run(d, {k: v for k, v in first.items() if "db_" not in k})
    assert rb.online_waves(point) is None
    info = add_run(d, "run_2", "2026-11-28T11:00:00", [["2.1.0", "2.2.0"]])  # a hop that stopped every node
    assert rb.online_waves(info["hop1"]["backup_id"]) is None


def test_a_node_by_node_session_runs_every_step_wave_after_wave_and_refuses_one_step_at_a_time(tmp_path):
    j = Journal.create(str(tmp_path), "rollback_001", backup_id="backup_20261128_100000", mode="auto",
                       to_version="2.2.0", steps={}, online=True,
                       hop_nodes={"rollback_w1": ["node2"], "rollback_w2": ["node3"], "rollback_w3": ["node1"]},
                       hop_waves={"rollback_w1": [1, 3], "rollback_w2": [2, 3], "rollback_w3": [3, 3]})
    j = Journal.load(j.path)  # as a continued session reads it: its schema holds the waves
    assert j.data["online"] and j.data["hop_waves"]["rollback_w3"] == [3, 3]
    rb = bare()
    order = list(rb.batches(j, rollback.numbers(4), parallel=True))  # a continued session: from its first wave
    assert order == [(h, [n]) for h in ("rollback_w1", "rollback_w2", "rollback_w3") for n in rollback.numbers()]
    plain = Journal.create(str(tmp_path), "rollback_002", backup_id="backup_20261128_100000", mode="auto",
                           to_version="2.2.0", steps={})
    assert list(rb.batches(plain, rollback.numbers(), parallel=True)) == [
        ("rollback", [1]), ("rollback", [2, 3, 4]), ("rollback", [5]), ("rollback", [6])]
    with pytest.raises(DrupgradeError) as e:
        _session.needs_before(rb, j, 3)
    assert e.value.code == EXIT_USAGE and "auto latest" in e.value.hint
