"""The engine's logic against fake nodes: order, fan-out, retry policies, journal and resume."""
import os
import signal
import threading
import time

import pytest

from drupgrade import engine, i18n, retry_policy, steps
from drupgrade.errors import DrupgradeError
from drupgrade.journal import FAILED, Journal
from drupgrade.ops import NodeOpsBase, RunLost

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
POLICIES = os.path.join(TOP, "conf", "retry_policy.json")


class Node:
    def __init__(self, name, roles):
        self.name, self.roles = name, roles


class Cfg:
    def __init__(self, nodes, max_parallel=4, timeouts=None):
        self.nodes = nodes
        self.run = {"max_parallel": max_parallel}
        self.timeouts = timeouts or {}


def step(name, phase, retry="direct", roles="any", fanout="parallel", timeout=60, order=10, barrier="cluster",
         rolling="wave"):
    return steps.Step("/x/%s.sh" % name, order, name, {
        "Summary": name, "Summary-zh": name, "Timeout": str(timeout), "Retry": retry,
        "Roles": roles, "Fanout": fanout, "Barrier": barrier, "Rolling": rolling}, phase)


class FakeRun:
    """A detached run on a fake node: its steps in order, each +gated one waits for its gate."""

    def __init__(self, items, rc=None, log=b"", nonce=b""):
        self.items = items  # [(step, gated)]
        self.pos = 0
        self.rc = rc
        self.log = log
        self.nonce = nonce
        self.sent = 0
        self.opened = set()
        self.stopped = self.hung = self.at_gate = False
        self.where = b""  # in a later hop its log says which (" in hop2")

    def mark(self, text):
        """A marker line as drstep prints it, with the run's nonce."""
        return b"@@DRUPGRADE@@ " + self.nonce + b" " + text + b"\n"


class FakeOps(NodeOpsBase):
    """Nodes whose steps are Python callables; records what ran where, in order. A run is a
    chain of steps (gates included), its log has the marker lines `drstep chain` prints. It
    follows the interface the real NodeOps follows (NodeOpsBase)."""

    def __init__(self):
        self.ran = []  # (node, step, action)
        self.behaviour = {}  # (node, step) -> list of rcs to return in turn (default 0)
        self.done = set()  # (node, step) already done per check
        self.runs = {}  # (node, run_key) -> FakeRun
        self.starts = []  # (node, run_key, [step names, +name when gated])
        self.gates_opened = []  # (node, step name)
        self.profiles = []  # (node, run key, connection type) of follow_with
        self.lock = threading.RLock()
        self.lost = set()
        self.settled = []  # (node, run_key, what it took)

    def existing(self, node, run_key, rc, log):
        """A run the node has from before (a controller that died): attached to, never rerun."""
        self.runs[(node, run_key)] = FakeRun([], rc, log)

    def start(self, node, steps, run_key, hop, versions, gates=(), nonce=""):
        with self.lock:
            if (node.name, run_key) in self.runs:  # like a node: an existing run is attached to, never rerun
                return
            live = [k for (n, k), r in self.runs.items() if n == node.name and r.rc is None
                    and {s.name for s, _g in r.items} & {s.name for s in steps}]
            assert not live, "attempt N+1 started while attempt N lives: %s" % live
            self.starts.append((node.name, run_key, [("+" if s.name in gates else "") + s.name for s in steps]))
            run = self.runs[(node.name, run_key)] = FakeRun([(s, s.name in gates) for s in steps],
                                                             nonce=nonce.encode())
            run.where = b"" if hop == "hop1" else b" in " + hop.encode()
            self._advance(node, run)

    def _advance(self, node, run):
        while run.rc is None and not run.hung and run.pos < len(run.items):
            s, gated = run.items[run.pos]
            name = s.name.encode()
            if gated and s.name not in run.opened and not run.stopped:
                if not run.at_gate:
                    run.log += run.mark(b"gate %s 1.0" % name)
                    run.at_gate = True
                return
            if run.stopped:
                run.rc = 75
                return
            run.at_gate = False
            self.ran.append((node.name, s.name, "run"))
            rcs = self.behaviour.get((node.name, s.name), [])
            rc = rcs.pop(0) if rcs else 0
            run.log += run.mark(b"begin %s 1.0" % name) + b"log of %s%s\n" % (name, run.where)
            if rc == "hang":
                run.hung = True
                return
            run.log += run.mark(b"end %s %d 1.5" % (name, rc))
            if rc != 0:
                run.rc = rc
                return
            self.done.add((node.name, s.name))
            run.pos += 1
        if run.rc is None and not run.hung:
            run.rc = 0

    def follow_with(self, node, run_key, conn_type):
        with self.lock:
            self.profiles.append((node.name, run_key, conn_type))

    def open_gate(self, node, run_key, name):
        with self.lock:
            self.gates_opened.append((node.name, name))
            if (node.name, run_key) not in self.runs:
                raise DrupgradeError("run %s does not exist on node %s" % (run_key, node.name))
            run = self.runs[(node.name, run_key)]
            run.opened.add(name)
            self._advance(node, run)

    def stop_run(self, node, run_key):
        with self.lock:
            run = self.runs[(node.name, run_key)]
            run.stopped = True
            self._advance(node, run)

    def wait(self, node, run_key, seconds, sink):
        if run_key in self.lost or (node.name, run_key) not in self.runs:
            raise RunLost(run_key)
        with self.lock:
            run = self.runs[(node.name, run_key)]
            data, run.sent, rc = run.log[run.sent:], len(run.log), run.rc
        sink(data)
        if rc is None and not data:
            threading.Event().wait(0.002)  # like a node: a silent run takes a while
        return rc

    def check(self, node, step, hop):
        return (node.name, step.name) in self.done

    def cleanup(self, node, step, hop):
        with self.lock:
            self.ran.append((node.name, step.name, "cleanup"))

    def local(self, node, step, hop, versions):
        return 0

    def cancel_local(self, node, step):
        with self.lock:
            self.ran.append((node.name, step.name, "cancel"))

    def settle(self, node, run_key):
        """Like DetachedRun.stop: a live run is stopped (at a gate: told to; else TERM) and gone."""
        with self.lock:
            run = self.runs.get((node.name, run_key))
            took = "none"
            if run is not None and run.rc is None:
                took = "stop" if run.at_gate else "term"
                run.rc = 75 if run.at_gate else 143
            self.settled.append((node.name, run_key, took))
            self.ran.append((node.name, run_key, "settle"))
            return {"state": "done" if run else "missing", "rc": run.rc if run else None, "signal": took}

    def resources(self, node, step):
        return {"cpu": "1", "mem": "2", "io": "3"}

    def context(self, node, step, run_key):
        return "== processes\n"

    def latency_ms(self, node):
        return 1


NODES = [Node("n1", ["db_primary", "etcd", "app"]), Node("n2", ["db_replica", "etcd", "app"]),
         Node("n3", ["etcd", "app"])]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    i18n.set_lang("en")
    monkeypatch.setattr(engine, "WAIT_SLICE", 0)
    monkeypatch.setattr(engine.time, "sleep", lambda s: None)


def make(tmp_path, step_list, ops=None, cfg=None, hops=(("1.0.0", "1.5.0"),)):
    ops = ops or FakeOps()
    journal = Journal.create(str(tmp_path / "runs"), "r1", hops=[list(h) for h in hops])
    said = []
    up = engine.Upgrade(cfg or Cfg(NODES), step_list, retry_policy.load(POLICIES), ops, journal,
                        lambda level, text: said.append((level, text)), str(tmp_path / "logs"),
                        first_role="db_primary")
    return up, ops, said


def results(up):
    """The journal's results as its file keeps them (keys hop/step/node): what a resume reads back."""
    return up.journal.data.setdefault("results", {})


def signed(up, run_key, log):
    """A log as `drstep chain` prints it for run_key: its marker lines carry the run's nonce."""
    return log.replace(b"@@DRUPGRADE@@ ", b"@@DRUPGRADE@@ " + up.journal.nonce(run_key).encode() + b" ")


def test_step_major_order_and_roles(tmp_path):
    s = [step("stop", "backup", order=10), step("dump", "backup", roles="db_primary", order=20),
         step("unzip", "upgrade")]
    up, ops, _said = make(tmp_path, s)
    up.execute()
    names = [(n, st) for n, st, _a in ops.ran]
    assert names.index(("n1", "dump")) > max(names.index((n, "stop")) for n in ("n1", "n2", "n3"))
    assert [n for n, st in names if st == "dump"] == ["n1"]
    # one run per node for the hop, a gate at each barrier (the phase boundary is one of them)
    assert [st for n, _k, st in ops.starts if n == "n1"] == [["stop", "+dump", "+unzip"]]
    assert [st for n, _k, st in ops.starts if n == "n2"] == [["stop", "+unzip"]]
    assert up.journal.data["status"] == "done"
    assert os.path.exists(str(tmp_path / "logs" / "n1" / "dump.log"))


def test_every_hop_keeps_its_own_step_logs_and_a_failure_names_its_own(tmp_path):
    """Hop 1 and the run's own steps write <step>.log, hop N >= 2 <step>.hopN.log: a later hop no
    longer truncates an earlier hop's log; a failure names the log of its own attempt."""
    s = [step("disk", "precheck", retry="phase"), step("install", "upgrade")]
    up, ops, said = make(tmp_path, s, hops=(("1.0.0", "1.5.0"), ("1.5.0", "2.0.0")))
    ops.behaviour[("n2", "install")] = [0, 1]  # hop 2's first attempt fails, its retry passes
    up.execute()
    logs = tmp_path / "logs"
    assert sorted(os.listdir(str(logs / "n1"))) == ["disk.log", "install.hop2.log", "install.log"]
    assert (logs / "n1" / "disk.log").read_text() == "log of disk in run\n"  # the precheck: once, in the run
    assert (logs / "n1" / "install.log").read_text() == "log of install\n"
    assert (logs / "n1" / "install.hop2.log").read_text() == "log of install in hop2\n"
    assert (logs / "n2" / "install.hop2.attempt1.log").read_text() == "log of install in hop2\n"
    assert (logs / "n2" / "install.log").read_text() == "log of install\n"
    assert engine.log_name("install", "run") == engine.log_name("install", "hop1") == "install.log"
    assert engine.log_name("install", "hop12", ".timeout-context.txt") == "install.hop12.timeout-context.txt"
    up, ops, said = make(tmp_path / "again", s, hops=(("1.0.0", "1.5.0"), ("1.5.0", "2.0.0")))
    ops.behaviour[("n3", "install")] = [0, 1, 1, 1]
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    [failure] = exc.value.failures
    assert failure.log == str(tmp_path / "again" / "logs" / "n3" / "install.hop2.log")


def test_serial_and_primary_first_fanout(tmp_path):
    s = [step("etcd", "upgrade", roles="etcd", fanout="serial"),
         step("db", "upgrade", roles="db_primary,db_replica", fanout="primary-first")]
    up, ops, _said = make(tmp_path, s, cfg=Cfg(list(reversed(NODES))))
    up.execute()
    assert [n for n, st, _a in ops.ran if st == "etcd"] == ["n3", "n2", "n1"]
    assert [n for n, st, _a in ops.ran if st == "db"] == ["n1", "n2"]


def test_direct_retry_cleans_up_then_succeeds(tmp_path):
    s = [step("stop", "backup")]
    up, ops, said = make(tmp_path, s)
    ops.behaviour[("n2", "stop")] = [1]
    up.execute()
    assert ("n2", "stop", "cleanup") in ops.ran
    assert [a for n, st, a in ops.ran if n == "n2"] == ["run", "cleanup", "run"]
    assert results(up)["hop1/stop/n2"]["attempts"] == 2
    assert any("automatic retry 1/2" in t for _l, t in said)


def test_direct_retry_gives_up_after_its_count(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    ops.behaviour[("n2", "stop")] = [1, 1, 1]
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    assert [f.node.name for f in exc.value.failures] == ["n2"]
    assert [a for n, st, a in ops.ran if n == "n2"].count("run") == 3  # 1 + auto_retries 2


def test_precheck_collects_every_failure_before_failing(tmp_path):
    s = [step("disk", "precheck", retry="phase"), step("version", "precheck", retry="phase", order=20)]
    up, ops, _said = make(tmp_path, s)
    ops.behaviour[("n1", "disk")] = [1]
    ops.behaviour[("n3", "version")] = [1]
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    assert sorted((f.node.name, f.step.name) for f in exc.value.failures) == [("n1", "disk"), ("n3", "version")]
    assert engine.exit_for(exc.value) == 3


def test_from_unzip_cleans_the_environment_and_restarts_at_unzip(tmp_path):
    s = [step("unzip", "upgrade", order=10), step("install", "upgrade", retry="from_unzip", order=20),
         step("start", "upgrade", order=30)]
    up, ops, _said = make(tmp_path, s)
    ops.behaviour[("n1", "install")] = [1]
    ops.behaviour[("n2", "unzip")] = [1]  # a direct step failing once: retried by its own policy
    up.execute()
    n1 = [(st, a) for n, st, a in ops.ran if n == "n1"]
    assert n1 == [("unzip", "run"), ("install", "run"), ("unzip", "cleanup"), ("unzip", "run"),
                  ("install", "run"), ("start", "run")]
    assert results(up)["hop1/install/n1"]["attempts"] == 2  # a new run key, not the failed run's rc
    assert ("n2", "unzip", "cleanup") in ops.ran  # the whole cluster restarts at unzip
    assert any(e.get("event") == "restart_at" for e in up.journal.data["events"])


def test_resume_reattaches_to_a_running_step_and_never_starts_it_twice(tmp_path):
    s = [step("a", "backup", order=10), step("b", "backup", order=20)]
    up, ops, _said = make(tmp_path, s)
    # A controller that died while b was running on n1: the journal says running, the node has the run.
    results(up)["hop1/a/n1"] = {"status": "ok", "attempts": 1}
    results(up)["hop1/a/n2"] = {"status": "ok", "attempts": 1}
    results(up)["hop1/a/n3"] = {"status": "ok", "attempts": 1}
    results(up)["hop1/b/n1"] = {"status": "running", "attempts": 1, "run": "r1.hop1.b.1"}
    log = b"@@DRUPGRADE@@ begin b 1.0\n@@DRUPGRADE@@ end b 0 2.0\n"
    ops.existing("n1", "r1.hop1.b.1", 0, signed(up, "r1.hop1.b.1", log))
    up.execute()
    assert ("n1", "b", "run") not in ops.ran
    assert ("n2", "b", "run") in ops.ran
    assert results(up)["hop1/b/n1"]["status"] == "ok"


def test_resume_reverifies_a_lost_run(tmp_path):
    up, ops, _said = make(tmp_path, [step("b", "backup")])
    for n in ("n1", "n2"):
        results(up)["hop1/b/%s" % n] = {"status": "running", "attempts": 1, "run": "r1.hop1.b.1"}
    ops.done.add(("n1", "b"))  # n1 finished before the node lost the run record
    up.execute()
    assert ("n1", "b", "run") not in ops.ran  # check said done: trusted only after checking
    assert ("n2", "b", "run") in ops.ran  # not done: run again as attempt 2
    assert results(up)["hop1/b/n2"]["attempts"] == 2


def test_timeout_prints_the_block_saves_context_and_cancels(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(engine.time, "time", lambda: clock[0])

    def wait(node, run_key, timeout, sink):
        clock[0] += 10
        return ops.runs[(node.name, run_key)].rc
    up, ops, said = make(tmp_path, [step("migrate", "upgrade", roles="db_primary", timeout=30)])
    ops.behaviour[("n1", "migrate")] = ["hang", "hang", "hang"]
    monkeypatch.setattr(ops, "wait", wait)
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    text = "\n".join(t for _l, t in said)
    assert "timed out on node n1" in text and "timeout setting: 30s" in text
    assert "timed out after" in exc.value.failures[0].reason
    assert os.path.exists(str(tmp_path / "logs" / "n1" / "migrate.timeout-context.txt"))
    assert [r.rc for r in ops.runs.values()] == [143, 143, 143]  # each attempt stopped before the next began
    assert [took for _n, _k, took in ops.settled] == ["term", "term", "term"]
    assert results(up)["hop1/migrate/n1"]["attempts"] == 3


def test_a_lost_link_is_unknown_the_step_stays_running_and_resume_reattaches(tmp_path):
    """A link lost past its reconnect budget while a step runs: not a failure (no retry, no second
    attempt), the journal keeps the step running with its run key, the command ends with what to
    do; a resume over the same journal re-attaches to that run and the step counts one attempt."""
    up, ops, _said = make(tmp_path, [step("backup", "backup", roles="db_primary")])
    ops.behaviour[("n1", "backup")] = ["hang"]
    real_wait = ops.wait

    def cut(node, run_key, timeout, sink):
        real_wait(node, run_key, timeout, sink)
        raise DrupgradeError("connection not recoverable: node n1 (control, 3 reconnects)")
    ops.wait = cut
    with pytest.raises(engine.NodeLost) as exc:
        up.execute()
    assert "lost contact with node n1 during step backup; the step may still be running there" in exc.value.message
    assert "bin/upgrade.sh resume" in exc.value.hint and exc.value.code == 1
    entry = results(up)["hop1/backup/n1"]
    assert entry["status"] == "running" and entry["attempts"] == 1 and entry["run"] == "r1.hop1.backup.1"
    assert ("n1", "backup", "cleanup") not in ops.ran and len(ops.starts) == 1
    assert up.journal.data["status"] == "running"
    # The link is back and the run finished on the node meanwhile: resume attaches to it.
    run = ops.runs[("n1", "r1.hop1.backup.1")]
    run.log += run.mark(b"end backup 0 9.0")
    run.rc = 0
    ops.wait = real_wait
    again = engine.Upgrade(up.cfg, up.steps, up.policies, ops, Journal.load(up.journal.path), up.out,
                           up.log_dir, first_role=up.first_role)
    again.execute()
    assert results(again)["hop1/backup/n1"]["status"] == "ok" and results(again)["hop1/backup/n1"]["attempts"] == 1
    assert len(ops.starts) == 1 and [a for _n, st, a in ops.ran if st == "backup"] == ["run"]


def test_failure_line_picks_the_tool_error_not_the_stack():
    text = ("[x] [backup_db] start\n[drp-dbtool] dump: ERROR 2002 (HY000): Can't connect\n"
            "[x] [backup_db] command failed (rc=1): dump\n    at step::run (a.sh:40)\n    at main (a.sh:43)\n")
    assert engine.failure_line(text) == "[drp-dbtool] dump: ERROR 2002 (HY000): Can't connect"
    assert engine.failure_line("one\ntwo\n") == "two"
    assert engine.failure_line("") == ""


def test_a_run_lost_on_the_node_is_a_failure_its_policy_retries(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    real_wait = ops.wait
    lost_once = []

    def wait(node, run_key, timeout, sink):
        if node.name == "n3" and not lost_once:
            lost_once.append(run_key)
            raise RunLost("node rebooted")
        return real_wait(node, run_key, timeout, sink)
    ops.wait = wait
    up.execute()
    assert results(up)["hop1/stop/n3"]["attempts"] == 2 and results(up)["hop1/stop/n3"]["status"] == "ok"


def chained(tmp_path):
    s = [step("unzip", "upgrade", order=10), step("config", "upgrade", order=20, barrier="node"),
         step("install", "upgrade", retry="from_unzip", order=30, barrier="node"),
         step("dbstart", "upgrade", roles="db_primary,db_replica", fanout="primary-first", order=40),
         step("migrate", "upgrade", roles="db_primary", order=50),
         step("post", "upgrade", order=60, barrier="node")]
    return make(tmp_path, s)


def test_a_phase_is_one_run_per_node_with_a_gate_at_each_cluster_barrier(tmp_path):
    up, ops, _said = chained(tmp_path)
    assert [[s.name for s in g] for g in up.groups(up.steps)] == [
        ["unzip", "config", "install"], ["dbstart"], ["migrate", "post"]]
    up.execute()
    assert [st for n, _k, st in ops.starts if n == "n1"] == [
        ["unzip", "config", "install", "+dbstart", "+migrate", "post"]]
    assert [st for n, _k, st in ops.starts if n == "n3"] == [["unzip", "config", "install", "+post"]]
    # primary-first: the replica's gate opens only after the primary's step ended
    ran = [(n, st) for n, st, _a in ops.ran]
    assert ran.index(("n2", "dbstart")) > ran.index(("n1", "dbstart"))
    assert ops.gates_opened.index(("n2", "dbstart")) > ops.gates_opened.index(("n1", "dbstart"))
    # a cluster barrier: nobody migrates or posts before every node installed and started its DB
    last = max(ran.index((n, "install")) for n in ("n1", "n2", "n3"))
    assert min(ran.index((n, "post")) for n in ("n1", "n2", "n3")) > max(last, ran.index(("n2", "dbstart")))
    for key, entry in results(up).items():
        assert entry["status"] == "ok" and entry["attempts"] == 1, key
    assert results(up)["hop1/config/n2"]["node_elapsed"] == 0.5
    with open(str(tmp_path / "logs" / "n2" / "config.log")) as f:
        assert f.read() == "log of config\n"  # each step's own part of the run's log


def test_a_failure_inside_a_chain_gets_its_policy_then_the_rest_runs(tmp_path):
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n2", "config")] = [1]
    up.execute()
    n2 = [(st, a) for n, st, a in ops.ran if n == "n2"]
    assert n2[:5] == [("unzip", "run"), ("config", "run"), ("config", "cleanup"), ("config", "run"),
                      ("install", "run")]
    assert results(up)["hop1/config/n2"]["attempts"] == 2
    assert results(up)["hop1/install/n2"]["attempts"] == 1
    assert up.journal.data["status"] == "done"


def test_from_unzip_inside_a_chain_restarts_the_cluster_at_unzip(tmp_path):
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n1", "install")] = [1]
    up.execute()
    assert [a for n, st, a in ops.ran if n == "n3" and st == "unzip"] == ["run", "cleanup", "run"]
    assert results(up)["hop1/install/n1"]["attempts"] == 2
    assert up.journal.data["status"] == "done"


def test_resume_reattaches_to_a_chain_midway_and_runs_nothing_twice(tmp_path):
    up, ops, _said = chained(tmp_path)
    key = "r1.hop1.unzip.1"
    results(up)["hop1/unzip/n1"] = {"status": "ok", "attempts": 1, "run": key}
    results(up)["hop1/config/n1"] = {"status": "running", "attempts": 1, "run": key}
    # the chain went on on the node while the controller was dead
    log = b"".join(b"@@DRUPGRADE@@ begin %s 1.0\n@@DRUPGRADE@@ end %s 0 1.25\n" % (s, s)
                   for s in (b"unzip", b"config", b"install"))
    ops.existing("n1", key, 0, signed(up, key, log))
    up.execute()
    assert [st for n, st, _a in ops.ran if n == "n1"] == ["dbstart", "migrate", "post"]
    assert results(up)["hop1/install/n1"] == dict(results(up)["hop1/install/n1"], status="ok", attempts=1,
                                                   run=key, node_elapsed=0.25)


def test_a_hang_inside_a_chain_times_out_that_step_alone(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(engine.time, "time", lambda: clock[0])
    up, ops, said = chained(tmp_path)
    ops.behaviour[("n3", "config")] = ["hang", "hang", "hang"]
    real_wait = ops.wait

    def wait(node, run_key, timeout, sink):
        clock[0] += 30
        return real_wait(node, run_key, timeout, sink)
    monkeypatch.setattr(ops, "wait", wait)
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    assert [(f.node.name, f.step.name, f.rc) for f in exc.value.failures] == [("n3", "config", 124)]
    assert results(up)["hop1/unzip/n3"]["status"] == "ok"
    assert "hop1/install/n3" not in results(up)  # never started: the chain stopped at the hang


def test_a_bound_below_the_node_count_gates_every_step(tmp_path):
    up, ops, _said = make(tmp_path, chained(tmp_path)[0].steps, cfg=Cfg(NODES, max_parallel=1))
    up.execute()
    assert [st for n, _k, st in ops.starts if n == "n3"] == [["unzip", "+config", "+install", "+post"]]
    assert up.journal.data["status"] == "done"


def test_a_primary_first_step_retried_on_the_primary_then_runs_on_the_replica(tmp_path):
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n1", "dbstart")] = [1]
    up.execute()
    assert [a for n, st, a in ops.ran if st == "dbstart"] == ["run", "cleanup", "run", "run"]
    assert [n for n, st, a in ops.ran if st == "dbstart" and a == "run"] == ["n1", "n1", "n2"]
    assert results(up)["hop1/dbstart/n2"]["status"] == "ok"


def test_a_failed_phase_winds_down_the_runs_waiting_at_a_gate(tmp_path):
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n2", "dbstart")] = [1, 1, 1]
    with pytest.raises(engine.PhaseFailed):
        up.execute()
    assert {r.rc for (n, _k), r in ops.runs.items() if n in ("n1", "n3")} == {75}  # stopped at their gate
    assert not [k for k, e in results(up).items() if e["status"] in ("queued", "running")]
    assert "hop1/post/n3" not in results(up)  # never began: not in the journal


def test_resume_reattaches_to_a_run_waiting_at_a_gate_and_opens_it(tmp_path):
    up, ops, _said = chained(tmp_path)
    key = "r1.hop1.unzip.1"
    for s in ("unzip", "config", "install"):
        results(up)["hop1/%s/n3" % s] = {"status": "ok", "attempts": 1, "run": key}
    results(up)["hop1/post/n3"] = {"status": "queued", "attempts": 0, "run": key}
    for n in ("n1", "n2"):
        for s in ("unzip", "config", "install", "dbstart", "migrate", "post"):
            if s != "migrate" or n == "n1":
                results(up)["hop1/%s/%s" % (s, n)] = {"status": "ok", "attempts": 1}
    results(up)["hop1/post/n1"]["status"] = results(up)["hop1/post/n2"]["status"] = "retry"
    log = b"".join(b"@@DRUPGRADE@@ begin %s 1.0\n@@DRUPGRADE@@ end %s 0 1.25\n" % (s, s)
                   for s in (b"unzip", b"config", b"install")) + b"@@DRUPGRADE@@ gate post 1.3\n"
    ops.runs[("n3", key)] = FakeRun([(step("post", "upgrade"), True)], None, signed(up, key, log),
                                    up.journal.nonce(key).encode())
    up.execute()
    assert ("n3", "post") in ops.gates_opened
    assert not [k for n, k, _st in ops.starts if n == "n3"]  # attached to, never started again
    assert results(up)["hop1/post/n3"]["status"] == "ok" and results(up)["hop1/post/n3"]["run"] == key


def test_ctrl_c_stops_the_waiting_at_once_and_leaves_the_runs_to_resume(tmp_path):
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n1", "install")] = ["hang"]  # n1 busy; n2 and n3 wait at the dbstart / post gate
    over = threading.Event()

    def ctrl_c():
        """Ctrl-C once n1's install runs (not by the clock: a loaded CI machine is slower), and
        again every 0.3 s while the run still waits (as an operator would)."""
        while not over.is_set() and ("n1", "install", "run") not in ops.ran:
            time.sleep(0.01)
        while not over.wait(0.3):
            os.kill(os.getpid(), signal.SIGINT)
    # Python's own Ctrl-C handler, as on the operator's terminal: a job started in the background
    # by a non-interactive shell (a CI runner's `cmd &`) inherits SIGINT ignored.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = threading.Thread(target=ctrl_c, daemon=True)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            up.execute()
    finally:
        over.set()
        presser.join()
        signal.signal(signal.SIGINT, before)
    assert results(up)["hop1/install/n1"]["status"] == "running"  # left to `resume`, not stopped
    assert {r.rc for r in ops.runs.values()} == {None}


def test_a_retry_stops_the_earlier_attempt_still_alive_before_the_next_one(tmp_path):
    """After a controller died (or `upgrade.sh retry`): the journal says the step is to be run
    again, but its earlier run still lives on the node. That run is stopped and confirmed gone
    (TERM, grace, KILL: ops.settle) before the new attempt; two never live at once (FakeOps.start
    asserts it)."""
    s = step("backup", "backup", roles="db_primary")
    up, ops, said = make(tmp_path, [s])
    old = ops.runs[("n1", "r1.hop1.backup.1")] = FakeRun([(s, False)])
    old.hung = True
    results(up)["hop1/backup/n1"] = {"status": "retry", "attempts": 1, "run": "r1.hop1.backup.1"}
    up.execute()
    assert ops.settled == [("n1", "r1.hop1.backup.1", "term")] and old.rc == 143
    assert [a for n, _st, a in ops.ran if n == "n1"] == ["settle", "run"]
    assert results(up)["hop1/backup/n1"]["attempts"] == 2 and results(up)["hop1/backup/n1"]["status"] == "ok"
    assert any("the earlier run r1.hop1.backup.1 was still alive; it was stopped (term)" in t for _l, t in said)


def test_an_automatic_retry_asks_the_node_about_the_lost_attempt_before_its_cleanup(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    real_wait = ops.wait

    def wait(node, run_key, timeout, sink):
        if node.name == "n3" and run_key.endswith(".1"):
            raise RunLost("no trace of it")
        return real_wait(node, run_key, timeout, sink)
    ops.wait = wait
    up.execute()
    assert [a for n, _st, a in ops.ran if n == "n3"] == ["run", "settle", "cleanup", "run"]
    assert ops.settled == [("n3", "r1.hop1.stop.1", "none")]


def test_an_earlier_attempt_the_node_cannot_account_for_stops_the_command(tmp_path):
    up, ops, _said = make(tmp_path, [step("backup", "backup", roles="db_primary")])
    results(up)["hop1/backup/n1"] = {"status": "failed", "attempts": 1, "run": "r1.hop1.backup.1"}

    def settle(node, run_key):
        raise DrupgradeError("connection not recoverable: node n1")
    ops.settle = settle
    with pytest.raises(engine.NodeLost) as exc:
        up.execute()
    assert "cannot confirm on node n1 that the earlier run r1.hop1.backup.1 has ended" in exc.value.message
    assert "nothing new was started there" in exc.value.message and ops.starts == []


def test_a_cleanup_that_fails_is_a_failed_attempt_with_its_reason_not_an_internal_error(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    ops.behaviour[("n2", "stop")] = [1]

    def cleanup(node, step, hop):
        raise DrupgradeError("cleanup of stop failed on node n2: ssh: connect to host n2: No route to host")
    ops.cleanup = cleanup
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    assert [(f.node.name, f.step.name) for f in exc.value.failures] == [("n2", "stop")]
    assert "No route to host" in exc.value.failures[0].reason
    assert "No route to host" in results(up)["hop1/stop/n2"]["reason"]
    assert [k for n, k, _st in ops.starts if n == "n2"] == ["r1.hop1.stop.1"]  # no attempt without its cleanup


def test_upgrade_retry_stops_a_live_earlier_attempt_before_the_cleanup(tmp_path):
    s = step("backup", "backup", roles="db_primary")
    up, ops, _said = make(tmp_path, [s])
    old = ops.runs[("n1", "r1.hop1.backup.1")] = FakeRun([(s, False)])
    old.hung = True
    results(up)["hop1/backup/n1"] = {"status": "failed", "attempts": 1, "run": "r1.hop1.backup.1"}

    up.retry_failed(up.journal.results(status=FAILED))
    assert [a for n, _st, a in ops.ran if n == "n1"] == ["settle", "cleanup"] and old.rc == 143
    assert results(up)["hop1/backup/n1"]["status"] == "retry"


def test_upgrade_retry_of_a_restart_does_what_the_automatic_restart_does(tmp_path):
    """One interpreter (Upgrade.prepare_retry): 'upgrade.sh retry' of a from_unzip failure cleans
    up the same nodes with the same step's cleanup, marks the same results and journals the same
    restart as the automatic retry did before it gave up."""
    up, ops, _said = chained(tmp_path)
    ops.behaviour[("n1", "install")] = [1, 1]  # the first run and the automatic restart
    with pytest.raises(engine.PhaseFailed):
        up.execute()
    automatic = [(n, st) for n, st, a in ops.ran if a == "cleanup"]
    assert automatic == [("n1", "unzip"), ("n2", "unzip"), ("n3", "unzip")]
    del ops.ran[:]
    again = engine.Upgrade(up.cfg, up.steps, up.policies, ops, Journal.load(up.journal.path), up.out, up.log_dir,
                           first_role=up.first_role)
    failed = again.journal.results(status=FAILED)
    assert [r.key for r in failed] == ["hop1/install/n1"]
    again.retry_failed(failed)
    assert [(n, st) for n, st, a in ops.ran if a == "cleanup"] == automatic
    assert {r.status for r in again.journal.results(steps=["unzip", "config", "install"])} == {"retry"}
    assert [e["step"] for e in again.journal.data["events"] if e.get("event") == "restart_at"] == ["unzip", "unzip"]
    again.execute()
    assert again.journal.result("hop1", "install", "n1").attempts == 3
    assert again.journal.result("hop1", "unzip", "n3").attempts == 3
    assert {r.status for r in again.journal.results()} == {"ok"}


def test_upgrade_retry_of_a_phase_runs_the_whole_phase_again_without_a_cleanup(tmp_path):
    s = [step("disk", "precheck", retry="phase"), step("version", "precheck", retry="phase", order=20)]
    up, ops, _said = make(tmp_path, s)
    ops.behaviour[("n1", "disk")] = [1]
    ops.behaviour[("n3", "version")] = [1]
    with pytest.raises(engine.PhaseFailed):
        up.execute()
    up.retry_failed(up.journal.results(status=FAILED))
    assert {r.status for r in up.journal.results()} == {"retry"}
    up.execute()
    assert not [a for _n, _st, a in ops.ran if a == "cleanup"]
    assert {(r.status, r.attempts) for r in up.journal.results()} == {("ok", 2)}


def test_a_policy_whose_cleanup_is_none_retries_without_a_cleanup(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    up.policies["direct"] = retry_policy.RetryPolicy("direct", dict(up.policies["direct"].data, cleanup="none"))
    ops.behaviour[("n2", "stop")] = [1]
    up.execute()
    assert [a for n, _st, a in ops.ran if n == "n2"] == ["run", "run"]
    assert up.journal.result("hop1", "stop", "n2").attempts == 2


def test_upgrade_retry_whose_cleanup_fails_is_the_failed_phase_and_starts_nothing(tmp_path):
    up, ops, _said = make(tmp_path, [step("stop", "backup")])
    ops.behaviour[("n2", "stop")] = [1, 1, 1]
    with pytest.raises(engine.PhaseFailed):
        up.execute()
    starts = len(ops.starts)

    def cleanup(node, step, hop):
        raise DrupgradeError("cleanup of stop failed on node n2: disk full")
    ops.cleanup = cleanup
    with pytest.raises(engine.PhaseFailed) as exc:
        up.retry_failed(up.journal.results(status=FAILED))
    assert [(f.node.name, f.step.name, f.reason) for f in exc.value.failures] == [
        ("n2", "stop", "cleanup of stop failed on node n2: disk full")]
    assert up.journal.result("hop1", "stop", "n2").status == "failed" and len(ops.starts) == starts


def test_a_mixed_clusters_hop_runs_only_on_the_nodes_it_upgrades_retries_included(tmp_path):
    """hop_nodes (drupgrade.mixed): hop 1 brings n3 alone up to the others, hop 2 is everyone's. A
    from_unzip restart in hop 1 cleans up and restarts on n3 only: n1 and n2 sit hop 1 out."""
    s = [step("stop", "backup", order=10), step("unzip", "upgrade", order=10),
         step("install", "upgrade", retry="from_unzip", order=30, barrier="node"),
         step("migrate", "upgrade", roles="db_primary", order=50)]
    up, ops, _said = make(tmp_path, s)
    up.journal.set(hops=[["2.0.0", "2.1.0"], ["2.1.0", "2.2.0"]],
                   hop_nodes={"hop1": ["n3"], "hop2": ["n1", "n2", "n3"]})
    ops.behaviour[("n3", "install")] = [1]
    up.execute()
    keys = set(results(up))
    assert {k for k in keys if k.startswith("hop1/")} == {"hop1/stop/n3", "hop1/unzip/n3", "hop1/install/n3"}
    assert {k.rsplit("/", 1)[1] for k in keys if k.startswith("hop2/")} == {"n1", "n2", "n3"}
    assert "hop2/migrate/n1" in keys and results(up)["hop1/unzip/n3"]["attempts"] == 2
    cleaned = [n for n, _s, what in ops.ran if what == "cleanup"]
    assert cleaned and set(cleaned) == {"n3"}
    assert up.journal.data["status"] == "done"


def test_a_rolled_hops_waves_run_their_nodes_and_the_cluster_steps_once_first_or_last(tmp_path):
    """hop_waves (drupgrade.rolling): one hop rolled in three waves, n2, n3, then n1 (the DB primary).
    A wave's steps run on its nodes; the database's backup and expand migration run once, on the
    primary, in the first wave (before any node moves), its contract migration in the last."""
    s = [step("backup_db", "backup", roles="db_primary", order=10, rolling="first"),
         step("backup_local", "backup", order=20),
         step("expand", "upgrade", roles="db_primary", order=10, rolling="first"),
         step("install", "upgrade", order=20),
         step("contract", "upgrade", roles="db_primary", order=30, rolling="last")]
    up, ops, _said = make(tmp_path, s)
    up.journal.set(hops=[["2.2.0", "2.3.0"]] * 3, hop_nodes={"hop1": ["n2"], "hop2": ["n3"], "hop3": ["n1"]},
                   hop_waves={"hop1": [1, 3], "hop2": [2, 3], "hop3": [3, 3]})
    up.execute()
    assert sorted(results(up)) == [
        "hop1/backup_db/n1", "hop1/backup_local/n2", "hop1/expand/n1", "hop1/install/n2",
        "hop2/backup_local/n3", "hop2/install/n3",
        "hop3/backup_local/n1", "hop3/contract/n1", "hop3/install/n1"]
    assert up.journal.data["status"] == "done"


def test_the_progress_line_every_10_s_in_the_designs_form_with_the_runs_counts(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(engine.time, "time", lambda: clock[0])
    up, ops, said = make(tmp_path, [step("unzip", "upgrade"), step("migrate", "upgrade", roles="db_primary",
                                                                     timeout=100)])
    up.remaining = lambda: 125
    ops.behaviour[("n1", "migrate")] = ["hang"]
    real_wait = ops.wait

    def wait(node, run_key, timeout, sink):
        rc = real_wait(node, run_key, timeout, sink)
        if node.name == "n1" and results(up).get("hop1/migrate/n1", {}).get("status") == "running":
            clock[0] += 5
            if clock[0] >= 1035:  # the step ends after 35 s
                ops.runs[(node.name, run_key)].log += ops.runs[(node.name, run_key)].mark(b"end migrate 0 2.0")
                ops.runs[(node.name, run_key)].rc = 0
        return rc
    monkeypatch.setattr(ops, "wait", wait)
    up.execute()
    lines = [t for _l, t in said if t.startswith("[progress]")]
    # unzip is done everywhere (1 of the hop's 2 steps): every 10 s of migrate, on the console and in the log
    assert lines == ["[progress] 50%% (1/2 steps done), [upgrade] n1 migrate: running for %d s (timeout 1 min 40 s)"
                     % t for t in (10, 20, 30)]
    assert "[upgrade] n1 migrate: estimated remaining: 2 min 5 s" in [t for _l, t in said]


def test_a_controller_step_has_the_same_watch_warnings_and_timeout_block(tmp_path, monkeypatch):
    """A controller step (an upload) past 85 % and 95 % of its timeout is warned about, at 100 % it
    gets the timeout block and fails (exit 124); its automatic retry waits until the attempt that
    timed out has ended (a thread cannot be killed), then runs."""
    clock = [1000.0]
    monkeypatch.setattr(engine.time, "time", lambda: clock[0])
    released = threading.Event()
    attempts = []

    cancelled = []

    class Ops(FakeOps):
        def local(self, node, step, hop, versions):
            attempts.append(node.name)
            if len(attempts) == 1:
                released.wait(10)  # hangs until the test lets it end
                return 0
            return 0

        def cancel_local(self, node, step):
            cancelled.append((node.name, step.name, len(attempts)))
    upload = step("upload", "distribute_package", roles="controller", timeout=20)
    upload.runs, upload.local = "controller", True
    up, ops, said = make(tmp_path, [upload], ops=Ops())

    def out(level, text):
        said.append((level, text))
        if "waiting until the attempt that timed out has ended" in text:
            released.set()  # the hung upload ends while its retry waits for it
    up.out = out
    real_join = threading.Thread.join

    def join(self, timeout=None):
        if self.name.startswith("local-") and timeout is not None:
            clock[0] += 1  # a second of the controller step passes with every wait
        return real_join(self, 0.01 if timeout is not None else None)
    monkeypatch.setattr(threading.Thread, "join", join)
    up.execute()
    texts = [t for _l, t in said]
    levels = {t: level for level, t in said}
    warning = next(t for t in texts if "[warning] the operation will time out soon" in t)
    urgent = next(t for t in texts if "[urgent] the operation will time out soon" in t)
    assert warning.startswith("[distribute_package] controller upload: ") and levels[warning] == "warning"
    assert levels[urgent] == "critical"
    block = texts.index("[error] upgrade operation timed out on node controller")
    assert texts.index(warning) < texts.index(urgent) < block
    assert "[progress] 0% (0/1 steps done), [distribute_package] controller upload: running for 10 s " \
           "(timeout 20 s)" in texts
    for part in ("step: [package distribution] upload", "timeout setting: 20s", "current environment: CPU:",
                 "controller: load"):
        assert any(t.startswith(part) for t in texts[block:]), part
    context = open(str(tmp_path / "logs" / "controller" / "upload.timeout-context.txt")).read()
    assert "== threads" in context and "local-upload-controller" in context
    assert "[distribute_package] controller upload: waiting until the attempt that timed out has ended" in texts
    assert cancelled == [("controller", "upload", 1)]  # what the timed-out attempt started is ended, once
    r = results(up)["hop1/upload/controller"]
    assert (r["status"], r["attempts"]) == ("ok", 2) and attempts == ["controller", "controller"]


def test_a_step_whose_plugin_failed_for_good_is_not_retried_and_its_plugins_set_the_profile(tmp_path):
    """Exit 86 (engine.PLUGIN_FAILED): the plugin's type had its attempts, the step's policy adds none.
    A step with plugins is followed over the plugin connection profile (§4.6.1), the others over control."""
    up, ops, said = make(tmp_path, [step("stop", "backup", order=10), step("unzip", "upgrade")])
    up.plugin_budget = {"unzip": 45}
    ops.behaviour[("n2", "stop")] = [engine.PLUGIN_FAILED]
    with pytest.raises(engine.PhaseFailed) as exc:
        up.execute()
    assert [(f.node.name, f.rc) for f in exc.value.failures] == [("n2", engine.PLUGIN_FAILED)]
    assert [a for n, st, a in ops.ran if n == "n2"] == ["run"]  # no automatic retry
    assert not any("automatic retry" in t for _l, t in said)
    up, ops, _said = make(tmp_path / "again", [step("stop", "backup", order=10), step("unzip", "upgrade")])
    up.plugin_budget = {"unzip": 45}
    up.execute()
    # stop over control (no call: runs start on it), then unzip's plugins switch each node's run to plugin
    assert sorted((n, c) for n, _k, c in ops.profiles) == [(n, "plugin") for n in ("n1", "n2", "n3")]
