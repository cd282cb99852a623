"""The journal's own rules (drupgrade/journal.py): its key and statuses, attempts and their
baselines, queued steps, the marker secret, re-reading a run's log on resume, and the checks on load."""
import json
import os
import threading

import pytest

from drupgrade import engine, journal, retry_policy, state, steps
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.journal import FAILED, OK, PENDING, QUEUED, RETRY, RUNNING, Journal

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Node:
    def __init__(self, name, roles=("app",)):
        self.name, self.roles = name, list(roles)


def step(name, phase="backup"):
    return steps.Step("/x/%s.sh" % name, 10, name, {"Summary": name, "Summary-zh": name, "Timeout": "60",
                                                    "Retry": "direct"}, phase)


N1, N2 = Node("n1"), Node("n2")
A, B, C = step("a"), step("b"), step("c")


@pytest.fixture
def j(tmp_path):
    return Journal.create(str(tmp_path / "runs"), "r1", target="2.2.0", hops=[["2.1.0", "2.2.0"]])


def on_disk(j):
    with open(j.path, encoding="utf-8") as f:
        return json.load(f)


# -- key, statuses, queries ----------------------------------------------------------------------
def test_a_result_carries_hop_step_and_node_as_fields_and_the_key_is_made_in_one_place(j):
    assert journal.key("hop1", A, N1) == journal.key("hop1", "a", "n1") == "hop1/a/n1"
    j.begin("hop1", N1, A)
    r = j.result("hop1", A, N1)
    assert (r.hop, r.step, r.node, r.key, r.status, r.attempts) == ("hop1", "a", "n1", "hop1/a/n1", RUNNING, 1)
    none = j.result("hop1", B, N1)
    assert (none.status, none.attempts, none.run, none.exists) == (None, 0, None, False)


def test_queries_by_hop_step_node_and_status_in_key_order(j):
    for hop, s, n, rc in [("hop2", A, N1, 0), ("hop1", B, N2, 1), ("hop1", A, N2, 0), ("hop1", A, N1, 1)]:
        j.begin(hop, n, s)
        j.finish(hop, s, n, rc)
    assert [r.key for r in j.results()] == ["hop1/a/n1", "hop1/a/n2", "hop1/b/n2", "hop2/a/n1"]
    assert [r.key for r in j.results(hop="hop1", steps=[A])] == ["hop1/a/n1", "hop1/a/n2"]
    assert [r.key for r in j.results(status=FAILED)] == ["hop1/a/n1", "hop1/b/n2"]
    assert [r.key for r in j.results(steps=["a"], nodes=[N1], status=(OK, FAILED))] == ["hop1/a/n1", "hop2/a/n1"]


def test_the_statuses_are_the_schemas(j):
    schema = json.load(open(os.path.join(TOP, "lib", "python", "drupgrade", "schemas", "journal.json")))
    props = schema["properties"]
    assert tuple(props["status"]["enum"]) == journal.RUN_STATUSES
    assert tuple(props["results"]["additionalProperties"]["properties"]["status"]["enum"]) == \
        journal.RESULT_STATUSES
    assert tuple(props["steps"]["additionalProperties"]["properties"]["status"]["enum"]) == \
        journal.SESSION_STEP_STATUSES


# -- attempts --------------------------------------------------------------------------------------
def test_each_begin_is_a_new_attempt_in_a_run_named_after_it_journaled_durably(j):
    first = j.begin("hop1", N1, A)
    assert (first.attempts, first.run) == (1, "r1.hop1.a.1")
    assert on_disk(j)["results"]["hop1/a/n1"]["status"] == RUNNING  # on disk before the step runs
    assert j.last(key="hop1/a/n1")["status"] == RUNNING
    j.finish("hop1", A, N1, 3, node_elapsed=0.5)
    r = j.result("hop1", A, N1)
    assert (r.status, r.get("rc"), r.attempts, r.get("node_elapsed")) == (FAILED, 3, 1, 0.5)
    assert on_disk(j)["results"]["hop1/a/n1"]["status"] == FAILED
    again = j.begin("hop1", N1, A)
    assert (again.attempts, again.run) == (2, "r1.hop1.a.2")
    inside = j.begin("hop1", N1, B, run_key="r1.hop1.a.2")  # a later step of the same run
    assert (inside.attempts, inside.run) == (1, "r1.hop1.a.2")
    local = j.begin("run", N1, A, local=True)  # a controller step has no run on a node
    assert local.run is None and local.attempts == 1


def test_attempt_baselines_tell_a_step_begun_in_this_run_from_one_begun_before_an_interruption(j):
    j.begin("hop1", N1, A)  # a running when the controller died: a re-attach follows that run
    j.begin("hop1", N1, B)
    j.finish("hop1", B, N1, 1)  # b failed in an earlier run
    seen = j.attempts("hop1", N1, [A, B, C])
    assert seen.began(A)  # its current attempt is the re-attached run's own
    assert not seen.began(B) and not seen.began(C)  # the earlier failure is not news
    j.begin("hop1", N1, B)
    j.begin("hop1", N1, C)
    assert seen.began(B) and seen.began(C)
    seen.reported(B)  # handed on once
    assert not seen.began(B) and seen.began(C)
    j.finish("hop1", B, N1, 0)
    assert not seen.began(B)  # an end is not a new attempt


# -- queued steps ------------------------------------------------------------------------------------
def test_queued_steps_are_journaled_with_the_first_step_and_removed_when_the_run_ends(j):
    j.begin("hop1", N1, B)
    j.finish("hop1", B, N1, 1)  # b was tried before
    run = j.begin("hop1", N1, A, queued=[B, C]).run
    disk = on_disk(j)["results"]  # the same write as the first step's start
    assert (disk["hop1/b/n1"]["status"], disk["hop1/b/n1"]["run"]) == (QUEUED, run)
    assert (disk["hop1/c/n1"]["status"], disk["hop1/c/n1"]["attempts"]) == (QUEUED, 0)
    j.begin("hop1", N2, C, queued=[])
    j.unqueue("hop1", N1, "another.run", [A, B, C])  # another run's end changes nothing here
    assert j.result("hop1", C, N1).status == QUEUED
    j.finish("hop1", A, N1, 1)
    j.unqueue("hop1", N1, run, [A, B, C])
    assert (j.result("hop1", A, N1).status, j.result("hop1", A, N1).run) == (FAILED, run)  # began: kept
    b = j.result("hop1", B, N1)
    assert (b.status, b.run, b.attempts) == (RETRY, None, 1)  # tried before: runs again as a new attempt
    assert not j.result("hop1", C, N1).exists  # never tried: no result at all
    assert j.result("hop1", C, N2).status == RUNNING


def test_a_journal_with_a_step_unqueued_after_an_earlier_attempt_loads_again(j):
    """unqueue leaves run null on a step tried before: the schema must accept what the journal writes."""
    j.begin("hop1", N1, B)
    j.finish("hop1", B, N1, 1)
    run = j.begin("hop1", N1, A, queued=[B]).run
    j.finish("hop1", A, N1, 1)
    j.unqueue("hop1", N1, run, [A, B])
    j.save()
    again = Journal.load(j.path)
    assert again.result("hop1", B, N1).status == RETRY and again.result("hop1", B, N1).run is None


def test_mark_retry_marks_what_it_is_asked_and_saves(j):
    for n in (N1, N2):
        j.begin("hop1", n, A)
        j.finish("hop1", A, n, 0)
    j.begin("rollback", N1, A)  # still running: re-attached later, never marked
    assert j.mark_retry(None, [A], only=(OK, FAILED)) == 2
    assert [r.status for r in j.results(steps=[A])] == [RETRY, RETRY, RUNNING]
    assert j.mark_retry("hop1", [A], [N1], reason="refused") == 1
    assert on_disk(j)["results"]["hop1/a/n1"] == dict(on_disk(j)["results"]["hop1/a/n1"], status=RETRY,
                                                      reason="refused")


def test_pending_and_the_step_of_a_run(j):
    assert j.pending("hop1", N1, [A, B, C]) == [A, B, C]
    j.begin("hop1", N1, A)
    j.finish("hop1", A, N1, 0)
    assert j.pending("hop1", N1, [A, B, C]) == [B, C] and j.running_step("hop1", N1, [A, B, C]) is B
    for s in (B, C):
        j.begin("hop1", N1, s)
        j.finish("hop1", s, N1, 0)
    assert j.pending("hop1", N1, [A, B, C]) == [] and j.running_step("hop1", N1, [A, B, C]) is A


def test_a_thread_waiting_on_changed_wakes_when_a_result_changes(j):
    woke = []

    def waiter():
        with j.changed:
            woke.append(j.changed.wait_for(lambda: j.result("hop1", A, N1).status == OK, timeout=60))
    t = threading.Thread(target=waiter)
    t.start()
    j.begin("hop1", N1, A)
    j.finish("hop1", A, N1, 0)
    t.join(60)
    assert woke == [True]


# -- the marker secret (issue 12, H2) ------------------------------------------------------------------
def test_the_nonce_is_per_run_and_found_again_after_a_reload(j):
    one, two = j.nonce("r1.hop1.a.1"), j.nonce("r1.hop1.a.2")
    assert len(one) == 32 and int(one, 16) >= 0 and one != two
    secret = on_disk(j)["marker_secret"]  # kept in the private state dir, made once
    assert len(secret) == 64 and j.nonce("r1.hop1.a.1") == one
    assert Journal.load(j.path).nonce("r1.hop1.a.1") == one  # a resume finds the same nonce
    other = Journal.create(os.path.dirname(os.path.dirname(j.path)), "r2")
    assert other.nonce("r1.hop1.a.1") != one  # another journal, another secret


# -- re-reading a run's log on resume ----------------------------------------------------------------
class Cfg:
    nodes = [N1]
    run = {"max_parallel": 1}
    timeouts = {}

    def section(self, name):
        return {}


def test_re_reading_a_runs_log_on_resume_skips_the_steps_already_journaled(j, tmp_path, caplog):
    """A re-attach streams the run's log from its first byte: the steps journaled from it before
    are not begun or ended again (no new attempt, no new event), the next ones are; the markers
    of the steps done before are theirs, not malformed lines (no warning, the nonce not logged)."""
    up = engine.Upgrade(Cfg(), [A, B, C], retry_policy.load(os.path.join(TOP, "conf", "retry_policy.json")), None, j,
                        lambda level, text: None, str(tmp_path / "logs"))
    run_key = up.begin("hop1", N1, A, queued=[B, C]).run
    mark = b"@@DRUPGRADE@@ " + j.nonce(run_key).encode() + b" "
    first = mark + b"begin a 1.0\n" + b"a's output\n" + mark + b"end a 0 2.0\n" + mark + b"begin b 2.0\n"
    log = engine.RunLog(up, "hop1", N1, run_key, [A, B, C], j.nonce(run_key))
    log.feed(first)  # the controller dies here: a is ok, b running
    events = len(j.data["events"])
    resumed = Journal.load(j.path)
    up.journal = resumed
    again = engine.RunLog(up, "hop1", N1, run_key, [B, C], resumed.nonce(run_key))
    again.feed(first + b"b's output\n" + mark + b"end b 0 3.0\n" + mark + b"begin c 3.0\n" + mark + b"end c 0 4.0\n")
    assert again.close(0) is None
    assert "marker" not in caplog.text and j.nonce(run_key) not in caplog.text
    assert [(r.step, r.status, r.attempts) for r in resumed.results()] == [("a", OK, 1), ("b", OK, 1), ("c", OK, 1)]
    new = [e for e in resumed.data["events"][events:] if "key" in e]
    assert [(e["key"], e["status"]) for e in new] == [("hop1/b/n1", OK), ("hop1/c/n1", RUNNING), ("hop1/c/n1", OK)]
    for name, text in (("a", b"a's output\n"), ("b", b"b's output\n")):
        with open(str(tmp_path / "logs" / "n1" / (name + ".log")), "rb") as f:
            assert f.read() == text  # each step's own part of the log, nothing else


# -- a rollback session's numbered steps --------------------------------------------------------------
def test_session_steps_are_pending_until_set_and_pending_again_when_forgotten(j):
    assert j.session_step(2) == {"status": PENDING}
    j.set_session_step(2, status="done", elapsed=3.0)
    assert Journal.load(j.path).session_step(2) == {"status": "done", "elapsed": 3.0}
    j.forget_session_steps([2])
    assert j.session_step(2)["status"] == PENDING


# -- the file: durable, found by its pointer, checked on load ---------------------------------------
def test_journal_records_durably_and_finds_last_event(tmp_path):
    j = Journal.create(str(tmp_path / "runs"), "run-1", target="2.2.0")
    j.record(node="node1", step="unzip", event="start")
    j.record(node="node1", step="unzip", event="end", rc=0)
    j.record(node="node2", step="unzip", event="start")
    again = Journal.load(j.path)
    assert again.data["target"] == "2.2.0"
    assert again.last(node="node1", step="unzip")["event"] == "end"
    assert again.last(node="node2")["event"] == "start"
    assert again.last(node="node3") is None


def pointer_to(tmp_path, journal_path, name="current_run.json"):
    state.atomic_write_json(str(tmp_path / name), {"run_id": "run_1", "journal": journal_path})
    return str(tmp_path / name)


def test_the_pointer_must_stay_inside_the_runs_dir(tmp_path):
    runs = str(tmp_path / "runs")
    j = Journal.create(runs, "run_1", target="2.2.0", hops=[["2.1.0", "2.2.0"]])
    assert Journal.current(pointer_to(tmp_path, j.path), runs).data["run_id"] == "run_1"
    outside = Journal.create(str(tmp_path / "elsewhere"), "run_1", target="2.2.0")
    for path in (outside.path, os.path.join(runs, "..", "elsewhere", "run_1", "journal.json"), "/etc/passwd"):
        with pytest.raises(DrupgradeError) as exc:
            Journal.current(pointer_to(tmp_path, path), runs)
        assert exc.value.code == EXIT_USAGE and "current_run.json" in exc.value.message
    os.symlink(os.path.dirname(outside.path), os.path.join(runs, "run_2"))  # inside by name only
    with pytest.raises(DrupgradeError):
        Journal.current(pointer_to(tmp_path, os.path.join(runs, "run_2", "journal.json")), runs)
    (tmp_path / "current_run.json").write_text('{"journal": ')
    with pytest.raises(DrupgradeError):
        Journal.current(str(tmp_path / "current_run.json"), runs)


@pytest.mark.parametrize("field, value, what", [
    ("hops", [["2.1.0", "2.2.0; rm -rf /"]], "/hops/0/1"),
    ("hops", [["2.1.0"]], "/hops/0"),
    ("target", "../../etc", "/target"),
    ("hop_info", {"hop1": {"backup_id": "../../etc", "from": "2.1.0", "to": "2.2.0"}}, "/hop_info/hop1/backup_id"),
    ("hop_info", {"x/y": {"backup_id": "backup_20261128_100000", "from": "2.1.0", "to": "2.2.0"}}, "hop_info"),
    ("run_id", "../run", "/run_id"),
    ("results", {"hop1/unzip/node1": {"run": "a b", "status": "ok"}}, "/results/hop1/unzip/node1/run"),
    ("results", {"hop1/unzip/node1": {"status": "finished"}}, "/results/hop1/unzip/node1/status"),
    ("results", {"hop1/unzip": {"status": "ok"}}, "results"),
    ("status", "whatever", "/status"),
    ("steps", {"2": {"status": "half"}}, "/steps/2/status"),
    ("marker_secret", "not hex", "/marker_secret"),
    ("events", {}, "/events"),
])
def test_journal_fields_that_reach_the_nodes_are_checked_on_load(tmp_path, field, value, what):
    j = Journal.create(str(tmp_path / "runs"), "run_1", target="2.2.0", hops=[["2.1.0", "2.2.0"]])
    data = json.load(open(j.path))
    data[field] = value
    state.atomic_write_json(j.path, data)
    with pytest.raises(DrupgradeError) as exc:
        Journal.load(j.path)
    assert exc.value.code == EXIT_USAGE and j.path in exc.value.message and what in exc.value.message


def test_journal_versions_are_normalised_again_on_load(tmp_path):
    j = Journal.create(str(tmp_path / "runs"), "run_1", target="v2.2.0", hops=[["v2.1.0", "2.2.0"]],
                       hop_info={"hop1": {"backup_id": "backup_20261128_100000", "from": "v2.1.0",
                                          "to": "v2.2.0"}})
    data = Journal.load(j.path).data
    assert data["target"] == "2.2.0" and data["hops"] == [["2.1.0", "2.2.0"]]
    assert (data["hop_info"]["hop1"]["from"], data["hop_info"]["hop1"]["to"]) == ("2.1.0", "2.2.0")


def test_each_hop_gets_one_backup_id_of_its_own(j):
    one = j.hop_info("hop1", "2.0.0", "2.1.0")
    two = j.hop_info("hop2", "2.1.0", "2.2.0")
    assert j.hop_info("hop1", "2.0.0", "2.1.0") == one and one["backup_id"] != two["backup_id"]
    assert Journal.load(j.path).data["hop_info"]["hop2"] == two


def test_the_waves_of_a_rolled_hop_share_their_first_waves_backup_id(j):
    """A rolled hop backs up every node in its first wave: one rollback point for the hop."""
    j.set(hop_waves={"hop2": [1, 2], "hop3": [2, 2]})
    one = j.hop_info("hop1", "2.1.0", "2.2.0")
    first, second = j.hop_info("hop2", "2.2.0", "2.3.0"), j.hop_info("hop3", "2.2.0", "2.3.0")
    assert first["backup_id"] == second["backup_id"] != one["backup_id"]
    assert Journal.load(j.path).data["hop_info"]["hop3"] == {"backup_id": first["backup_id"],
                                                            "from": "2.2.0", "to": "2.3.0"}


# -- the file: durable when a change returns, one write for changes made at once (issue 19) ---------
def test_a_change_is_on_disk_when_it_returns(j):
    j.begin("hop1", N1, A)
    assert on_disk(j)["results"]["hop1/a/n1"]["status"] == RUNNING
    j.finish("hop1", A, N1, 0)
    assert on_disk(j)["results"]["hop1/a/n1"]["status"] == OK
    assert [e.get("status") for e in on_disk(j)["events"]] == [RUNNING, OK]


def test_a_batch_is_written_when_it_ends_once(j, monkeypatch):
    writes = []
    real = state.atomic_write_bytes
    monkeypatch.setattr(state, "atomic_write_bytes", lambda path, data: (writes.append(data), real(path, data)))
    with j.batch():
        j.begin("hop1", N1, A)
        j.begin("hop1", N2, A)
        assert writes == [] and "results" not in on_disk(j)  # not before the outermost batch ends
    assert len(writes) == 1 and sorted(on_disk(j)["results"]) == ["hop1/a/n1", "hop1/a/n2"]
    with j.batch():  # a read: nothing to write
        j.result("hop1", A, N1)
    assert len(writes) == 1


def test_changes_made_while_a_write_is_on_its_way_share_the_next_write(j, monkeypatch):
    """20 nodes end a step at once: far fewer writes than changes, and each change is on disk
    when its call returns (the file a call saw after returning holds that call's change)."""
    writes = []
    real = state.atomic_write_bytes

    def slow(path, data):
        writes.append(data)
        threading.Event().wait(0.05)  # an fsync on a busy disk
        real(path, data)
    monkeypatch.setattr(state, "atomic_write_bytes", slow)
    nodes = [Node("n%d" % i) for i in range(20)]
    start, seen = threading.Barrier(20), {}

    def node(n):
        start.wait()
        j.finish("hop1", A, n, 0)
        seen[n.name] = on_disk(j)["results"]["hop1/a/%s" % n.name]["status"]
    threads = [threading.Thread(target=node, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {n.name: OK for n in nodes}
    assert len(writes) < 10, len(writes)  # 20 changes
    assert len(on_disk(j)["events"]) == 20
