"""Sessions, host keys and detached runs against a real OpenSSH server on 127.0.0.1."""
import logging
import os
import signal
import subprocess
import threading
import time

import pytest
from sshd_server import TEST_USER

from drupgrade.errors import EXIT_CONFIRM, EXIT_USAGE, DrupgradeError
from drupgrade.transport import failures, hostkeys
from drupgrade.transport.detached import DetachedRun
from drupgrade.transport.policy import Endpoint
from drupgrade.transport.sftp import SftpEngine
from drupgrade.transport.ssh import SessionPool


@pytest.fixture
def pool(settings):
    p = SessionPool(settings)
    yield p
    p.close()


def test_key_and_password_logins_run_commands(pool, node):
    s = pool.session(node)
    res = s.run(["id", "-un"])
    assert (res.rc, res.stdout.strip()) == (0, TEST_USER)
    res = s.run(["bash", "-c", "echo out; echo err >&2; exit 3"])
    assert (res.rc, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert not res.ssh_failed


def test_a_command_past_its_timeout_returns_124(pool, key_node):
    res = pool.session(key_node).run(["sleep", "30"], timeout=1)
    assert res.rc == 124 and "timed out" in res.stderr


def test_commands_share_one_master(pool, key_node):
    s = pool.session(key_node)
    s.run(["true"])
    pid = s.master.proc.pid
    for _i in range(5):
        assert s.run(["true"]).rc == 0
    assert s.master.proc.pid == pid


def test_hostile_words_stay_data(pool, key_node, sshd):
    marker = os.path.join(sshd.home, "pwned")
    s = pool.session(key_node)
    for word in ["$(touch %s)" % marker, "`touch %s`" % marker, "; touch %s" % marker]:
        res = s.run(["echo", word])
        assert res.stdout == word + "\n"
    res = s.run(["bash", "-c", 'printf "%s" "$1"', "drtest", "$(touch %s)" % marker])  # data as $1
    assert res.stdout == "$(touch %s)" % marker
    assert not os.path.exists(marker)


def test_wrong_password_three_tries_then_a_clear_error(pool, sshd, caplog):
    bad = Endpoint("nbad", "127.0.0.1", sshd.port, TEST_USER, password="not-the-password")
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        with pytest.raises(failures.AuthenticationFailed) as ei:
            pool.session(bad).connect()
    assert "nbad" in ei.value.message and "3" in ei.value.message
    assert len([r for r in caplog.records if "authentication failed on node nbad" in r.getMessage()]) == 3


def test_lost_master_is_reconnected_and_the_command_retried(pool, key_node):
    s = pool.session(key_node)
    s.connect()
    os.kill(s.master.proc.pid, signal.SIGKILL)
    s.master.proc.wait()
    res = s.run(["echo", "again"])
    assert res.stdout == "again\n" and s.reconnects == 1


def test_status_connections_reconnect_only_manually(pool, key_node):
    s = pool.session(key_node, "status")
    s.connect()
    os.kill(s.master.proc.pid, signal.SIGKILL)
    s.master.proc.wait()
    with pytest.raises(failures.ConnectionNotRecoverable) as ei:
        s.reconnect("test")
    assert "status" in ei.value.message
    assert s.connect().run(["true"]).rc == 0  # the manual reconnect


def test_unreachable_node_fails_after_the_reconnect_budget(pool, settings):
    from sshd_server import free_port
    dead = Endpoint("ndead", "127.0.0.1", free_port(), TEST_USER, private_key_path="/nonexistent")
    t0 = time.time()
    with pytest.raises(failures.ConnectionNotRecoverable) as ei:
        pool.session(dead, "plugin").connect()
    assert ei.value.attempts == 2 and "ndead" in ei.value.message and "plugin" in ei.value.message
    assert time.time() - t0 < 60


def test_changed_host_key_is_refused_then_accepted_deliberately(settings, key_node, sshd):
    with SessionPool(settings) as pool:
        assert pool.session(key_node).run(["true"]).rc == 0
    old = hostkeys.known_fingerprints(settings.known_hosts, "127.0.0.1", sshd.port)
    assert old
    sshd.stop()
    sshd.regenerate_host_keys()
    sshd.start()
    try:
        with SessionPool(settings) as pool:
            with pytest.raises(failures.HostKeyChanged) as ei:
                pool.session(key_node).connect()
        msg = ei.value.message
        assert old[0][1] in msg and "offered SHA256:" in msg
        assert "--accept-new-key nk --fingerprint SHA256:" in ei.value.hint
        offered = ei.value.offered
        assert offered.startswith("SHA256:") and offered != old[0][1]
        with pytest.raises(failures.HostKeyChanged):  # paramiko applies the same policy
            SftpEngine(key_node, settings).connect()
        state = hostkeys.describe(key_node, settings.known_hosts, ei.value)
        assert state == {"state": "changed", "fingerprint": "%s %s" % old[0], "offered": offered}

        # The recovery command never trusts blindly: a wrong fingerprint is refused (exit 2, both
        # shown), no fingerprint and no terminal needs a confirmation (exit 4), a "no" records nothing.
        wrong = old[0][1]
        with pytest.raises(DrupgradeError) as e:
            hostkeys.accept_new_key(key_node, settings.known_hosts, expected=wrong)
        assert e.value.code == EXIT_USAGE and wrong in e.value.message and offered in e.value.message
        with pytest.raises(DrupgradeError) as e:
            hostkeys.accept_new_key(key_node, settings.known_hosts)
        assert e.value.code == EXIT_CONFIRM and offered in e.value.message and "--fingerprint" in e.value.hint
        asked = []
        with pytest.raises(DrupgradeError) as e:
            hostkeys.accept_new_key(key_node, settings.known_hosts, confirm=lambda t, fp: asked.append(fp))
        assert e.value.code == EXIT_CONFIRM and asked == [offered]
        assert hostkeys.known_fingerprints(settings.known_hosts, "127.0.0.1", sshd.port) == old

        new = hostkeys.accept_new_key(key_node, settings.known_hosts, expected=offered)
        assert new == [("ssh-ed25519", offered)]
        with SessionPool(settings) as pool:
            assert pool.session(key_node).run(["true"]).rc == 0
        assert SftpEngine(key_node, settings).connect().execute("echo hi").stdout == "hi\n"
        # The RSA key the node offers as well, named by its fingerprint, replaces the ed25519 one.
        rsa = [k for k in hostkeys.offered_keys(key_node) if k[0] == "ssh-rsa"][0]
        assert hostkeys.accept_new_key(key_node, settings.known_hosts, confirm=lambda t, fp: True) == new
        assert hostkeys.accept_new_key(key_node, settings.known_hosts, expected=rsa[1]) == [("ssh-rsa", rsa[1])]
        with SessionPool(settings) as pool:
            assert pool.session(key_node).run(["true"]).rc == 0
    finally:
        hostkeys.forget(settings.known_hosts, "127.0.0.1", sshd.port)


def test_a_fingerprint_must_look_like_one():
    fp = "SHA256:" + "A" * 43
    assert hostkeys.check_fingerprint(" %s " % fp) == fp
    for bad in ("A" * 43, "SHA256:" + "A" * 42, "MD5:aa:bb", fp + "; rm -rf /"):
        with pytest.raises(DrupgradeError) as e:
            hostkeys.check_fingerprint(bad)
        assert e.value.code == EXIT_USAGE


def test_keys_learned_at_first_contact_are_logged_on_both_paths(settings, key_node, sshd, caplog):
    """ssh hides its own notice (LogLevel=ERROR): the new known_hosts entry is found and logged,
    once, with the notice that accept-new trusts on first use; paramiko logs the same."""
    hostkeys._learned.clear()
    del hostkeys._announced[:]
    with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
        with SessionPool(settings) as pool:
            assert pool.session(key_node).run(["true"]).rc == 0
            assert pool.session(key_node, "transfer").run(["true"]).rc == 0
    (fp,) = hostkeys.known_fingerprints(settings.known_hosts, "127.0.0.1", sshd.port)
    learned = [r.getMessage() for r in caplog.records if "learned host key of node nk" in r.getMessage()]
    assert learned == ["learned host key of node nk: %s %s" % fp]
    assert sum("trusted at first contact" in r.getMessage() and "strict" in r.getMessage()
               for r in caplog.records) == 1
    assert hostkeys.describe(key_node, settings.known_hosts)["state"] == "new"
    hostkeys._learned.clear()  # a later run: the key is simply recorded
    assert hostkeys.describe(key_node, settings.known_hosts) == {
        "state": "recorded", "fingerprint": "%s %s" % fp, "offered": None}

    hostkeys.forget(settings.known_hosts, "127.0.0.1", sshd.port)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
        SftpEngine(key_node, settings).connect().close()
    assert any("learned host key of node nk: ssh-" in r.getMessage() for r in caplog.records)
    hostkeys.forget(settings.known_hosts, "127.0.0.1", sshd.port)


def test_strict_policy_refuses_an_unknown_host(settings, sshd):
    strict = Endpoint("ns", "127.0.0.1", sshd.port, TEST_USER, private_key_path=sshd.client_key,
                      host_key_policy="strict")
    with SessionPool(settings) as pool:
        with pytest.raises(failures.HostKeyUnknown) as ei:
            pool.session(strict).connect()
    assert "strict" in ei.value.message
    key = hostkeys.describe(strict, settings.known_hosts, ei.value)  # what `nodes` shows: new, not recorded
    assert key["state"] == "new" and key["fingerprint"] is None and key["offered"].startswith("ssh-ed25519 SHA256:")


def test_insecure_policy_connects_with_a_warning(settings, sshd, caplog):
    ep = Endpoint("ni", "127.0.0.1", sshd.port, TEST_USER, private_key_path=sshd.client_key,
                  host_key_policy="insecure")
    with caplog.at_level(logging.WARNING, logger="drupgrade.transport"):
        with SessionPool(settings) as pool:
            assert pool.session(ep).run(["true"]).rc == 0
    assert any("insecure" in r.getMessage() for r in caplog.records)
    assert not os.path.exists(settings.known_hosts) or "127.0.0.1" not in open(settings.known_hosts).read()


# -- detached runs -------------------------------------------------------------------
def test_detached_run_reports_output_and_rc_and_never_runs_twice(pool, node, sshd):
    s = pool.session(node)
    counter = os.path.join(sshd.home, "counter-%s" % node.name)
    if os.path.exists(counter):
        os.unlink(counter)
    runs = os.path.join(sshd.home, "runs")
    script = 'echo ran >> %s; for i in 1 2 3; do echo "line $i"; sleep 0.2; done; exit 7' % counter
    got = []
    r = DetachedRun(s, "run1-%s-%d" % (node.name, os.getpid()), runs)
    res = r.wait(on_output=got.append, command=script)
    assert r.started_here
    assert res.rc == 7 and res.stdout == "line 1\nline 2\nline 3\n" and b"".join(got) == res.stdout.encode()
    again = DetachedRun(s, r.run_id, runs)
    assert again.wait(command=script).rc == 7 and again.started_here is False
    assert open(counter).read() == "ran\n"


def test_detached_run_survives_a_lost_connection_and_is_reattached(pool, key_node, sshd):
    s = pool.session(key_node)
    counter = os.path.join(sshd.home, "counter-cut")
    if os.path.exists(counter):
        os.unlink(counter)
    script = 'echo ran >> %s; for i in $(seq 1 12); do echo "line $i"; sleep 0.25; done; exit 0' % counter
    run = DetachedRun(s, "cut-%d" % os.getpid(), os.path.join(sshd.home, "runs"))

    killed = []

    def on_output(data):
        if b"line 3" in data and not killed:
            killed.append(s.master.proc.pid)
            os.kill(s.master.proc.pid, signal.SIGKILL)  # the link is gone
    res = run.wait(on_output=on_output, command=script)
    assert killed and run.attaches >= 2 and s.reconnects >= 1
    assert res.rc == 0
    assert res.stdout == "".join("line %d\n" % i for i in range(1, 13))  # every byte exactly once
    assert open(counter).read() == "ran\n"


def test_closing_the_session_ends_its_followers_quietly_and_the_run_goes_on(pool, key_node, sshd, caplog):
    """Ctrl-C: the command ends and closes its sessions under threads that still follow steps. They
    stop without a word (no 'lost the connection', no reconnect), the step goes on on the node, and
    nothing connects again through the closed session."""
    s = pool.session(key_node)
    runs = os.path.join(sshd.home, "runs")
    run = DetachedRun(s, "closed-%d" % os.getpid(), runs)
    ended = []

    def follow():
        try:
            run.wait(command="sleep 2; echo done; exit 3")
        except failures.TransportError as e:
            ended.append(e)
    t = threading.Thread(target=follow, daemon=True)
    caplog.set_level(logging.INFO)
    t.start()
    time.sleep(0.8)  # attached and streaming
    pool.close()  # the command's end (Runner.close)
    t.join(30)
    assert not t.is_alive() and ended and "closed" in ended[0].message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    with pytest.raises(failures.TransportError):
        s.run(["true"])
    again = DetachedRun(pool.session(key_node), run.run_id, runs)  # the next command re-attaches
    assert again.wait().rc == 3 and not again.started_here


def test_detached_wait_returns_at_its_deadline_even_when_the_run_is_silent(pool, key_node, sshd):
    s = pool.session(key_node)
    runs = os.path.join(sshd.home, "runs")
    r = DetachedRun(s, "silent-%d" % os.getpid(), runs)
    res = r.wait(timeout=1.0, command="sleep 3; echo late; exit 4")
    assert res.still_running and res.rc == 124
    assert not res.stdout  # returned at the deadline, before the run printed anything
    assert r.started_here
    res = r.wait()  # the same run, followed to its end, never started twice
    assert (res.rc, res.still_running, res.stdout) == (4, False, "late\n")
    again = DetachedRun(s, r.run_id, runs)
    assert again.wait(command="echo twice; exit 9").rc == 4 and not again.started_here


def test_password_masters_from_worker_threads_do_not_fork_a_multithreaded_process(settings, pw_node):
    """Several password masters started at once from threads (the engine's fan-out): all
    authenticate, and no fork()/forkpty() of a multi-threaded process (Python 3.12+ warns;
    the autouse fixture of conftest.py fails the test on that warning)."""
    import threading

    from drupgrade.transport import SessionPool
    errors, rcs = [], []
    with SessionPool(settings) as pool:
        def one(conn_type):
            try:
                rcs.append(pool.session(pw_node, conn_type).run(["true"]).rc)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)
        threads = [threading.Thread(target=one, args=(t,)) for t in ("control", "transfer", "plugin")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and rcs == [0, 0, 0]


def test_gates_let_a_run_go_on_through_one_channel_that_comes_back_after_a_loss(pool, key_node, sshd):
    s = pool.session(key_node)
    runs = os.path.join(sshd.home, "runs")
    script = ('d=$DRUPGRADE_RUN_DIR; for g in one two; do until [ -e "$d/go.$g" ]; do sleep 0.02; done; '
              'echo "through $g"; done')
    r = DetachedRun(s, "gated-%d" % os.getpid(), runs)
    res = r.wait(timeout=0.5, command=script)
    assert res.still_running and not res.stdout  # waits at its first gate
    r.open_gate("one")
    channel = s.gates().proc
    os.kill(s.master.proc.pid, signal.SIGKILL)  # the link is gone, and the gate channel with it
    r.open_gate("two")
    assert s.gates().proc is not channel
    assert r.wait().stdout == "through one\nthrough two\n"
    with pytest.raises(failures.TransportError):
        DetachedRun(s, "nosuch-%d" % os.getpid(), runs).open_gate("one")


# -- stopping a run for good (H3: one attempt of a step at a time) ---------------------
def _session_members(run_dir):
    """The live processes of a run's session (its runner's pid is the session id)."""
    with open(os.path.join(run_dir, "pid")) as f:
        sid = f.read().strip()
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], stdout=subprocess.PIPE, universal_newlines=True).stdout
    return [p for p, s, st in (line.split() for line in out.splitlines()) if s == sid and not st.startswith("Z")]


def _started(run, command, marker):
    run.wait(timeout=0.3, command=command)
    deadline = time.time() + 10
    while not os.path.exists(os.path.join(run.dir, marker)) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(os.path.join(run.dir, marker)), os.listdir(run.dir) if os.path.isdir(run.dir) else run.dir


def test_stop_escalates_term_grace_kill_and_confirms_the_whole_session_is_gone(pool, key_node, sshd):
    """A run that ignores SIGTERM, with a child that left its process group (like `timeout` does):
    SIGTERM, the grace period, SIGKILL to every process of the session, and none is left."""
    runs = os.path.join(sshd.home, "runs")
    run = DetachedRun(pool.session(key_node), "stubborn-%d" % os.getpid(), runs)
    script = ('trap "" TERM; set -m; (exec sleep 300) & echo $! > "$DRUPGRADE_RUN_DIR/child"; '
              ': > "$DRUPGRADE_RUN_DIR/ready"; wait')
    _started(run, script, "ready")
    with open(os.path.join(run.dir, "child")) as f:
        child = int(f.read())
    assert os.getpgid(child) != os.getpgid(int(open(os.path.join(run.dir, "pid")).read()))
    t0 = time.time()
    info = run.stop(grace=1)
    assert info["signal"] == "kill" and info["state"] == "lost"  # the runner was killed too: no rc
    assert time.time() - t0 >= 1  # the grace period was given
    assert _session_members(run.dir) == []
    try:
        with open("/proc/%d/stat" % child) as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"  # dead, not reaped yet
    except FileNotFoundError:
        pass  # dead and reaped
    assert run.stop(grace=1) == {"state": "lost", "rc": None, "signal": "none"}  # safe to repeat


def test_stop_of_a_running_step_is_sigterm_and_the_exit_code_is_recorded(pool, key_node, sshd):
    runs = os.path.join(sshd.home, "runs")
    run = DetachedRun(pool.session(key_node), "termable-%d" % os.getpid(), runs)
    _started(run, ': > "$DRUPGRADE_RUN_DIR/ready"; sleep 300', "ready")
    assert run.stop(grace=5) == {"state": "done", "rc": 143, "signal": "term"}
    assert _session_members(run.dir) == []


def test_stop_of_a_run_waiting_at_its_gate_is_the_stop_file(pool, key_node, sshd):
    runs = os.path.join(sshd.home, "runs")
    run = DetachedRun(pool.session(key_node), "atgate-%d" % os.getpid(), runs)
    _started(run, ': > "$DRUPGRADE_RUN_DIR/ready"; until [ -e "$DRUPGRADE_RUN_DIR/stop" ]; do sleep 0.05; done; '
                  'exit 75', "ready")
    assert run.stop(grace=5) == {"state": "done", "rc": 75, "signal": "stop"}
    assert run.stop() == {"state": "done", "rc": 75, "signal": "none"}
    assert DetachedRun(pool.session(key_node), "nosuch-%d" % os.getpid(), runs).stop()["state"] == "missing"


def test_the_runs_script_never_appears_in_an_argv(pool, key_node, sshd):
    """The command travels on stdin into the private run dir (it carries the marker nonce)."""
    token = "secret-token-%d" % os.getpid()
    run = DetachedRun(pool.session(key_node), "argv-%d" % os.getpid(), os.path.join(sshd.home, "runs"))
    res = run.wait(timeout=0.5, command='sleep 2; echo "%s" > /dev/null; echo done' % token)
    assert res.still_running
    seen = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if token.encode() in f.read():
                    seen.append(pid)
        except OSError:
            continue
    assert seen == []
    assert run.wait().stdout == "done\n"
    assert oct(os.stat(os.path.join(run.dir, "cmd")).st_mode & 0o777) == "0o600"
