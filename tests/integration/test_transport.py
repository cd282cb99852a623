"""Transport against the lab: link cuts during uploads and detached runs, password hygiene.

Run with a lab up, e.g.
  LAB_NAME=dld LAB_SUBNET=10.231.70 LAB_DIR=/tmp/dld tests/lab/lab.sh up --nodes 2
  LAB_NAME=dld LAB_SUBNET=10.231.70 LAB_DIR=/tmp/dld python3 -m pytest tests/integration/test_transport.py
Heartbeats are shortened (2 s interval, 6 s timeout) so a cut is noticed in seconds; the
logic is the same as with the design's defaults.
"""
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))

from drupgrade import i18n, versions  # noqa: E402
from drupgrade.transport import DetachedRun, RemoteDiskFull, SessionPool, TransferFailed  # noqa: E402
from drupgrade.transport.policy import Endpoint, Heartbeat, TransportSettings  # noqa: E402
from drupgrade.transport.transfer import FileTransferManager  # noqa: E402

LAB_SH = os.path.join(TOP, "tests", "lab", "lab.sh")
BIG = 200 * 1024 * 1024
RATE = "200mbit"  # ~8 s for 200 MB: room to cut in the middle


class Lab(object):
    """The few lab operations these tests need (tests/lab/lab.sh underneath)."""

    def __init__(self, lab_dir):
        self.dir = lab_dir
        with open(os.path.join(lab_dir, "nodes.json")) as f:
            self.info = json.load(f)
        with open(os.path.join(lab_dir, "password")) as f:
            self.password = f.read().strip()
        self.key = os.path.join(lab_dir, "id_ed25519")

    def sh(self, *args):
        subprocess.run([LAB_SH] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def fault(self, action, node, *args):
        self.sh("fault", action, node, *args)

    def node(self, i=0, auth="key"):
        n = self.info["nodes"][i]
        return Endpoint(n["name"], n["address"], 22, "root",
                        password=self.password if auth == "password" else None,
                        private_key_path=self.key if auth == "key" else None)

    def exec(self, node, command):
        return subprocess.run([LAB_SH, "exec", node, "--", "bash", "-c", command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True)


@pytest.fixture(scope="module")
def tlab():
    name = os.environ.get("LAB_NAME", "drl")
    lab_dir = os.environ.get("LAB_DIR") or os.path.join(TOP, "build", "lab" if name == "drl" else "lab-" + name)
    if not os.path.exists(os.path.join(lab_dir, "nodes.json")):
        pytest.skip("no lab at %s (tests/lab/lab.sh up)" % lab_dir)
    return Lab(lab_dir)


@pytest.fixture(scope="module")
def drp(tlab):
    """drp installed on the lab (the two tests of the operator's commands read its version, the host key
    test plans an upgrade to 2.2.0): kept when a version up to 2.2.0 is there, else 2.2.0 installed (a
    module must not rely on another's install: under xdist a module before it on the same lab may leave
    2.3.0, which cannot be planned to 2.2.0)."""
    from labtools import install
    found = tlab.exec(tlab.info["nodes"][0]["name"], "cat /opt/drp/VERSION")
    version = found.stdout.strip() if found.returncode == 0 else ""
    if not re.match(r"^[0-9]+\.[0-9]+\.[0-9]+$", version) or versions.key(version) > versions.key("2.2.0"):
        install("2.2.0")


@pytest.fixture
def settings(tmp_path):
    beats = {t: Heartbeat(t, 2, 6, r) for t, r in (("control", 3), ("transfer", 2), ("plugin", 1))}
    beats["status"] = Heartbeat("status", 2, 6, None)
    cm = tempfile.mkdtemp(prefix="dcm-")  # control sockets need a short path
    yield TransportSettings(known_hosts=str(tmp_path / "known_hosts"), heartbeats=beats, connect_timeout=3,
                            control_dir=cm)
    shutil.rmtree(cm, ignore_errors=True)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    p = str(tmp_path_factory.mktemp("big") / "drp-big.tar.gz")
    with open(p, "wb") as f:
        for _i in range(BIG // (8 << 20)):
            f.write(os.urandom(8 << 20))
    return p


def _sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 22), b""):
            h.update(b)
    return h.hexdigest()


def _when_progress(progress_of, at_percent, action, done):
    """A thread that calls action() once the transfer passed at_percent (unless done first)."""
    def run():
        while not done.is_set():
            snaps = progress_of()
            if snaps and snaps[-1]["percent"] >= at_percent and snaps[-1]["state"] == "running":
                action()
                return
            time.sleep(0.05)
    t = threading.Thread(target=run)
    t.start()
    return t


def _cut_when(progress_of, at_percent, lab, node, seconds, done):
    """Cut the node's link once the transfer passed at_percent, restore after `seconds`."""
    def cut():
        lab.fault("cut", node)
        time.sleep(seconds)
        lab.fault("restore", node)
    return _when_progress(progress_of, at_percent, cut, done)


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_upload_survives_a_cut_within_the_budget_and_resumes(tlab, settings, big_file, method):
    node = tlab.node(0)
    remote = "/var/lib/drupgrade/packages/cut-%s.tar.gz" % method
    tlab.exec(node.name, "rm -f %s %s.part" % (remote, remote))
    settings.method = method
    tlab.fault("rate", node.name, RATE)
    done = threading.Event()
    try:
        with FileTransferManager(settings) as m:
            cutter = _cut_when(m.get_transfer_progress, 30, tlab, node.name, 9, done)
            try:
                r = m.upload_file(big_file, remote, node)
            finally:
                done.set()
                cutter.join()
    finally:
        tlab.fault("restore", node.name)
        tlab.fault("clear", node.name)
    assert r.action == "resumed" and r.method == method
    assert r.sent < 1.5 * r.size, "sent %d bytes for a %d byte file" % (r.sent, r.size)
    out = tlab.exec(node.name, "sha256sum %s; ls %s.part 2>&1" % (remote, remote)).stdout
    assert _sha(big_file) in out and "No such file" in out


def test_a_cut_longer_than_the_budget_fails_cleanly_and_the_next_attempt_resumes(tlab, settings, big_file):
    node = tlab.node(0)
    remote = "/var/lib/drupgrade/packages/long-cut.tar.gz"
    tlab.exec(node.name, "rm -f %s %s.part" % (remote, remote))
    tlab.fault("rate", node.name, RATE)
    done = threading.Event()
    try:
        with FileTransferManager(settings) as m:
            cutter = _cut_when(m.get_transfer_progress, 30, tlab, node.name, 40, done)
            try:
                with pytest.raises(TransferFailed) as ei:
                    m.upload_file(big_file, remote, node)
            finally:
                done.set()
                cutter.join()
        assert "connection not recoverable" in ei.value.message and node.name in ei.value.message
        assert remote + ".part" in ei.value.hint
        part = int(tlab.exec(node.name, "stat -c %%s %s.part" % remote).stdout.strip())
        assert 0 < part < BIG
        tlab.fault("clear", node.name)
        with FileTransferManager(settings) as m:
            r = m.upload_file(big_file, remote, node)
        assert r.action == "resumed" and r.sent <= BIG - part + (1 << 20)
        assert _sha(big_file) in tlab.exec(node.name, "sha256sum %s" % remote).stdout
    finally:
        tlab.fault("restore", node.name)
        tlab.fault("clear", node.name)


@pytest.mark.parametrize("method", ["scp", "sftp"])
def test_the_disk_filling_during_an_upload_fails_at_once_and_gives_the_space_back(tlab, settings, big_file, method,
                                                                                  caplog):
    """The target filesystem (a tmpfs on the node with room for the file) is filled by
    another writer while the upload is in flight: RemoteDiskFull at once (no retry, no
    fallback), zh/en message naming node, path and "disk full", the partial removed so
    the node gets its space back, exit code 1."""
    node = tlab.node(1)
    fs = "/var/lib/drupgrade/fill-%s" % method
    remote = fs + "/drp-big.tar.gz"
    settings.method = method
    tlab.fault("fill-disk", node.name, fs, "%dM" % (BIG // (1 << 20) + 60))  # a tmpfs, full
    tlab.exec(node.name, "rm -f %s/.lab-fill" % fs)  # now with room for the file: the check passes
    tlab.fault("rate", node.name, RATE)
    done = threading.Event()
    try:
        with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
            with FileTransferManager(settings) as m:
                # mounted already: the second fill takes what is left
                filler = _when_progress(m.get_transfer_progress, 20,
                                        lambda: tlab.fault("fill-disk", node.name, fs, "1M"), done)
                try:
                    with pytest.raises(RemoteDiskFull) as ei:
                        m.upload_file(big_file, remote, node)
                finally:
                    done.set()
                    filler.join()
                snap = m.get_transfer_progress()[-1]
        e = ei.value
        assert 0 < snap["percent"] < 100 and snap["state"] == "failed"
        assert e.code == 1 and e.partial_removed
        for text in (e.message, str(e)):
            assert "disk full" in text and node.name in text and remote + ".part" in text
        assert "removed" in e.hint
        assert not [r for r in caplog.records if "try " in r.getMessage() or "falling back" in r.getMessage()]
        out = tlab.exec(node.name, "ls %s %s.part 2>&1; df -Pk %s | awk 'NR==2 {print $4}'" % (remote, remote, fs))
        assert out.stdout.count("No such file") == 2
        assert int(out.stdout.split()[-1]) * 1024 > BIG // 10  # the partial's space is back
        old = i18n.current_lang()
        i18n.set_lang("zh")
        try:
            zh = RemoteDiskFull(node.name, remote + ".part", partial_removed=True)
        finally:
            i18n.set_lang(old)
        assert node.name in zh.message and remote + ".part" in zh.message and "磁盘已满" in zh.message
    finally:
        tlab.fault("clear", node.name)
        tlab.fault("unfill-disk", node.name, fs)


def test_detached_run_survives_a_cut_and_runs_once(tlab, settings):
    node = tlab.node(1)
    counter = "/root/detached-counter"
    tlab.exec(node.name, "rm -f %s" % counter)
    script = 'echo ran >> %s; for i in $(seq 1 30); do echo "line $i"; sleep 0.5; done' % counter
    run_id = "itest-%d" % int(time.time())
    cut = []

    def on_output(data):
        if b"line 4\n" in data and not cut:
            cut.append(1)
            threading.Thread(target=lambda: (tlab.fault("cut", node.name), time.sleep(9),
                                             tlab.fault("restore", node.name))).start()
    with SessionPool(settings) as pool:
        s = pool.session(node, "control")
        run = DetachedRun(s, run_id, "/var/lib/drupgrade/runs")
        try:
            res = run.wait(on_output=on_output, command=script)
        finally:
            tlab.fault("restore", node.name)
        assert run.attaches >= 2 and s.reconnects >= 1
    assert res.rc == 0
    assert res.stdout == "".join("line %d\n" % i for i in range(1, 31))
    assert tlab.exec(node.name, "cat %s" % counter).stdout == "ran\n"


def test_password_never_visible_in_any_process_during_transfers(tlab, settings, tmp_path):
    import psutil
    node = tlab.node(1, auth="password")
    payload = str(tmp_path / "p.bin")
    with open(payload, "wb") as f:
        f.write(os.urandom(32 << 20))
    found, stop = [], threading.Event()

    def scan():
        while not stop.is_set():
            for p in psutil.process_iter():
                try:
                    text = " ".join(p.cmdline()) + " ".join(p.environ().values())
                except (psutil.Error, OSError):
                    continue
                if tlab.password in text:
                    found.append(p.pid)
    t = threading.Thread(target=scan)
    t.start()
    try:
        for method in ("scp", "sftp"):
            settings.method = method
            with FileTransferManager(settings) as m:
                m.upload_file(payload, "/tmp/pw-%s.bin" % method, node, skip_identical=False)
    finally:
        stop.set()
        t.join()
    assert found == []


# -- host keys and node text through bin/upgrade.sh (issue 12: M5, L2) -----------------------------
def _node_sh(lab, node, script):
    p = lab.exec(node, script)  # nsenter, not ssh: works while the node's host key is "wrong"
    assert p.returncode == 0, p.stderr
    return p.stdout


def _on_a_terminal(argv):
    """The command on a pty (rich draws its table there), 220 columns; (rc, output)."""
    import pexpect
    child = pexpect.spawn(argv[0], argv[1:], env=dict(os.environ, COLUMNS="220", LINES="50"), encoding="utf-8",
                          timeout=300, dimensions=(50, 220))
    out = child.read()
    child.close()
    return child.exitstatus, out


def test_nodes_shows_a_hostile_version_file_as_text(tlab, drp, tmp_path):
    """Reproduced on c9cddb7: VERSION '2.2.0[/bold]' crashed `nodes` (rich MarkupError) and an ESC
    sequence went to the terminal raw."""
    from labtools import Controller
    ctl = Controller(tmp_path)
    node = tlab.info["nodes"][1]["name"]
    _node_sh(tlab, node, "cp -p /opt/drp/VERSION /root/VERSION.saved && "
                         "printf '2.2.0[/bold]\\033[31mRED\\033]0;owned\\007\\n' > /opt/drp/VERSION")
    try:
        rc, out = _on_a_terminal(ctl.argv("nodes"))
        p = subprocess.run(ctl.argv("--json", "nodes"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
    finally:
        _node_sh(tlab, node, "mv /root/VERSION.saved /opt/drp/VERSION")
    assert rc == 0, out
    assert "2.2.0[/bold][31mRED]0;owned" in out and "internal error" not in out
    assert "\x1b[31mRED" not in out and "\x1b]0;" not in out
    rows = {r["node"]: r for r in json.loads(p.stdout)["nodes"]}
    assert rows[node]["version"] == "2.2.0[/bold][31mRED]0;owned"


def test_a_changed_host_key_is_shown_and_accepted_only_against_its_fingerprint(tlab, drp, tmp_path):
    """node3 gets new host keys (its own are put back afterwards): nodes shows CHANGED with both
    fingerprints, plan stops; --accept-new-key needs the fingerprint read on the node's console."""
    import pexpect
    from labtools import Controller
    ctl = Controller(tmp_path)
    node = tlab.info["nodes"][2]["name"]

    def nodes(*args, expect=0):
        p = subprocess.run(ctl.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        assert p.returncode == expect, p.stdout + p.stderr
        return p

    def rows(p):
        return {r["node"]: r for r in json.loads(p.stdout)["nodes"]}

    planned = json.loads(nodes("--json", "plan", "--to", "2.2.0").stdout)["upgrade_plan"]["nodes"]
    assert {n["host_key_state"] for n in planned} == {"new"}  # learned at this first contact
    old = [n["host_key"] for n in planned if n["name"] == node][0]
    first = rows(nodes("--json", "nodes"))
    assert {r["host_key_state"] for r in first.values()} == {"recorded"} and first[node]["host_key"] == old
    known_hosts = os.path.join(ctl.state, "known_hosts")
    _node_sh(tlab, node, "rm -rf /root/hostkeys.saved && mkdir /root/hostkeys.saved && "
                         "cp -p /etc/ssh/ssh_host_* /root/hostkeys.saved/ && rm -f /etc/ssh/ssh_host_* && "
                         "ssh-keygen -A >/dev/null && systemctl restart ssh")
    try:
        console = _node_sh(tlab, node, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub").split()[1]
        p = nodes("--json", "nodes", expect=1)
        row = rows(p)[node]
        assert (row["host_key_state"], row["host_key"], row["host_key_offered"]) == ("changed", old, console)
        out = nodes("plan", "--to", "2.2.0", expect=1).stderr
        assert "has changed" in out and console in out and old.split()[1] in out
        assert "--accept-new-key %s --fingerprint SHA256:" % node in out
        for extra in ([], ["--yes"]):  # no terminal, no fingerprint: a confirmation is needed, --yes is no answer
            out = nodes(*(extra + ["nodes", "--accept-new-key", node]), expect=4).stderr
            assert "confirmation needed" in out and console in out and "--fingerprint" in out
        out = nodes("nodes", "--accept-new-key", node, "--fingerprint", old.split()[1], expect=2).stderr
        assert "not the fingerprint you expect" in out and console in out and old.split()[1] in out
        child = pexpect.spawn(ctl.argv("nodes", "--accept-new-key", node)[0],
                              ctl.argv("nodes", "--accept-new-key", node)[1:], encoding="utf-8", timeout=120)
        child.expect("type yes to record it")
        assert console in child.before
        child.sendline("no")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 4
        from drupgrade.transport import hostkeys  # nothing was recorded by any of the refusals
        assert hostkeys.known_fingerprints(known_hosts, tlab.info["nodes"][2]["address"], 22) == [
            tuple(old.split())]
        out = nodes("nodes", "--accept-new-key", node, "--fingerprint", console).stdout
        assert "host key now recorded: ssh-ed25519 " + console in out
        out = nodes("plan", "--to", "2.2.0").stdout
        assert "host key: ssh-ed25519 %s (recorded)" % console in out
    finally:
        _node_sh(tlab, node, "cp -p /root/hostkeys.saved/* /etc/ssh/ && rm -rf /root/hostkeys.saved && "
                             "systemctl restart ssh")
