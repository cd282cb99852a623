"""The node lock (drupgrade.nodelock) against a real OpenSSH server on 127.0.0.1: two controllers
(two transports, two state dirs) claim one node; runs hold the lock like `drstep` does."""
import logging
import os
import time

import pytest

from drupgrade import i18n, nodelock
from drupgrade.errors import DrupgradeError
from drupgrade.transport import Transport
from drupgrade.transport.detached import DetachedRun

# What `drstep` does for its lifetime: the node lock, shared.
HOLDS_THE_LOCK = 'exec 8>> "${DRUPGRADE_RUN_DIR%/*}/.lock"; flock -s 8; : > "$DRUPGRADE_RUN_DIR/ready"; sleep 300'


class Cfg:
    def __init__(self, node):
        self.nodes = [node]
        self.run = {"max_parallel": 4}


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


@pytest.fixture
def controllers(settings, key_node, remote_dir):
    """Two controllers' transports to the same node (each its own ssh connection)."""
    made = []

    def controller():
        from drupgrade.transport.policy import TransportSettings
        s = TransportSettings(known_hosts=settings.known_hosts, heartbeats=settings.heartbeats,
                              connect_timeout=5, control_dir=settings.control_dir, node_run_dir=remote_dir)
        t = Transport(s)
        made.append(t)
        return t
    yield controller
    for t in made:
        t.close()


def lock(t, key_node, state_dir, run_id, said=None):
    return nodelock.NodeLock(Cfg(key_node), t, state_dir, run_id, "upgrade.sh", "run --to 2.2.0",
                             lambda level, text: (said if said is not None else []).append(text))


def holder(remote_dir):
    with open(os.path.join(remote_dir, ".holder")) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines())


def live_run(t, key_node, remote_dir, name):
    run = DetachedRun(t.session(key_node), name, remote_dir)
    run.wait(timeout=0.3, command=HOLDS_THE_LOCK)
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(run.dir, "ready")) and time.time() < deadline:
        time.sleep(0.05)
    return run


def test_a_second_controller_is_refused_until_it_takes_over(controllers, key_node, remote_dir):
    ta, tb = controllers(), controllers()
    a = lock(ta, key_node, "/srv/state-a", "run_a").claim()
    assert holder(remote_dir)["run_id"] == "run_a" and holder(remote_dir)["key"] == a.key
    b = lock(tb, key_node, "/srv/state-b", "run_b")
    with pytest.raises(DrupgradeError) as exc:
        b.claim()
    e = exc.value
    assert e.code == 5
    for part in ("another drupgrade run holds the node lock", "nk: upgrade.sh run --to 2.2.0 (run run_a)",
                 "state dir /srv/state-a", "pid %d" % os.getpid(), "that controller is still running"):
        assert part in e.message, part
    assert "bin/upgrade.sh --take-over run --to 2.2.0" in e.hint and "SIGKILL" in e.hint
    assert holder(remote_dir)["run_id"] == "run_a"  # unchanged

    # A's run lives on after A's controller is gone (its connection closed): still refused.
    run = live_run(ta, key_node, remote_dir, "a-run")
    ta.close()
    deadline = time.time() + 10
    while True:  # the node notices the end of A's connection within moments
        with pytest.raises(DrupgradeError) as exc:
            b.claim()
        if "that controller is gone" in exc.value.message or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "that controller is gone" in exc.value.message and "its runs still live there: a-run" in exc.value.message

    # The take-over stops A's run (it holds the lock: TERM), confirms, then takes the lock.
    said = []
    b = lock(tb, key_node, "/srv/state-b", "run_b", said).claim(take_over=True)
    assert holder(remote_dir)["run_id"] == "run_b"
    assert any("took the lock over from upgrade.sh run --to 2.2.0 (run run_a)" in t for t in said)
    assert any("stopped run a-run" in t and "signal=term" in t for t in said)
    assert DetachedRun(tb.session(key_node), "a-run", remote_dir).stop() == {"state": "done", "rc": 143,
                                                                             "signal": "none"}
    b.release()
    assert not os.path.exists(os.path.join(remote_dir, ".holder"))
    assert run.run_id == "a-run"


def test_a_holder_whose_controller_and_runs_are_gone_is_stale_and_replaced(controllers, key_node, remote_dir,
                                                                          caplog):
    ta, tb = controllers(), controllers()
    lock(ta, key_node, "/srv/state-a", "run_a").claim()
    ta.close()  # A died (its ssh connection went with it), nothing of it runs on the node
    deadline = time.time() + 10
    with caplog.at_level(logging.WARNING, logger="drupgrade.nodelock"):
        while True:  # the node notices the connection end within moments
            try:
                lock(tb, key_node, "/srv/state-b", "run_b").claim()
                break
            except DrupgradeError:
                assert time.time() < deadline
                time.sleep(0.2)
    assert holder(remote_dir)["run_id"] == "run_b"
    assert any("was stale (its controller is gone and none of its runs lives there): replaced" in r.getMessage()
               for r in caplog.records)


def test_the_lock_stays_while_a_run_of_the_holder_lives_and_a_resume_renews_it(controllers, key_node, remote_dir):
    ta = controllers()
    a = lock(ta, key_node, "/srv/state-a", "run_a").claim()
    run = live_run(ta, key_node, remote_dir, "a-run")
    assert nodelock.live_runs(Cfg(key_node), ta, [key_node]) == {"nk": ["a-run"]}  # what a tool reinstall leaves alone
    a.claimed = [key_node]
    a.release()  # Ctrl-C while a run lives: the lock is kept
    assert holder(remote_dir)["run_id"] == "run_a"
    # The same state dir, another run (e.g. rollback_tool after the upgrade's controller died):
    # its controller is gone for sure, but its run lives: refused.
    with pytest.raises(DrupgradeError) as exc:
        lock(ta, key_node, "/srv/state-a", "rollback_x").claim()
    assert "its runs still live there: a-run" in exc.value.message
    # The same run (resume) renews the claim.
    again = lock(ta, key_node, "/srv/state-a", "run_a").claim()
    assert holder(remote_dir)["pid"] == str(os.getpid()) and again.key == a.key
    run.stop()
    assert nodelock.live_runs(Cfg(key_node), ta, [key_node]) == {"nk": []}
    again.release()
    assert not os.path.exists(os.path.join(remote_dir, ".holder"))


def test_a_refusal_names_each_holder_once_after_its_nodes():
    class N:
        def __init__(self, name):
            self.name = name
    one = nodelock.parse("result=held\ncontroller=alive\nold.key=k1\nold.command=upgrade.sh run\nold.run_id=r1\n"
                         "old.host=ctl-a\nold.state_dir=/s\nold.pid=7\nold.since=t\n")
    other = nodelock.parse("result=held\ncontroller=gone\nold.key=k2\nold.command=rollback_tool auto\n"
                           "old.run_id=r2\nold.host=ctl-b\nold.state_dir=/s\nold.pid=8\nold.since=t\nlive=r2.x\n")
    text = nodelock.by_holder([(N("node1"), one), (N("node2"), other), (N("node3"), one)])
    assert text.count("upgrade.sh run (run r1)") == 1 and text.count("rollback_tool auto (run r2)") == 1
    assert text.startswith("node1, node3: upgrade.sh run (run r1) of the controller on ctl-a")
    assert "; node2: rollback_tool auto (run r2) of the controller on ctl-b" in text and "r2.x" in text
