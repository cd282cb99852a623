"""Integration tests of the test lab itself: nodes, ssh, isolation, faults, clean down."""

import configparser
import glob
import os
import stat
import subprocess
import time
import uuid

import pexpect
import pytest
from lab import Lab

KEEPALIVE = ["ServerAliveInterval=2", "ServerAliveCountMax=2", "ConnectTimeout=5"]


def node_names(lab):
    return [n.name for n in lab.nodes]


def other_lab(lab, suffix, octet_shift):
    """A second lab next to the one under test: own name, subnet and directory."""
    a, b, c = lab.subnet.split(".")
    name = (lab.name[:9] + suffix)
    subnet = os.environ.get("LAB_SMALL_SUBNET_" + suffix.upper(),
                            "{}.{}.{}".format(a, b, (int(c) + octet_shift) % 256))
    return Lab(os.path.join(os.path.dirname(lab.dir), "lab-" + name), name, subnet)


def leftovers(small, pids, cgroup_bases):
    """Everything of a downed lab that is still visible on the host."""
    found = []
    netns = subprocess.check_output(["ip", "netns", "list"], universal_newlines=True)
    found += [ns for ns in netns.splitlines() if ns.startswith(small.name + "-")]
    links = subprocess.check_output(["ip", "-o", "link", "show"], universal_newlines=True)
    names = [line.split(":")[1].strip() for line in links.splitlines()]
    found += [name for name in names if name.startswith(small.name + "-")]
    found += [b for b in cgroup_bases if os.path.exists(b)]
    with open("/proc/self/mountinfo") as f:
        found += [line for line in f if small.dir in line]
    found += ["pid {}".format(p) for p in pids if p and os.path.exists("/proc/{}".format(p))]
    for env in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(env, "rb") as f:
                if ("LAB_DIR=" + small.dir + "\0").encode() in f.read():
                    found.append(env)
        except OSError:
            pass
    return found


# -- the running lab ----------------------------------------------------------------------

def test_files_written_by_up(lab):
    for name in ("upgrade.ini", "upgrade-key.ini", "password"):
        assert stat.S_IMODE(os.stat(lab.path(name)).st_mode) == 0o600, name
    cfg = configparser.ConfigParser()
    cfg.read(lab.upgrade_ini)
    assert cfg.get("ssh_config", "username") == "root"
    assert cfg.get("ssh_config", "password") == lab.password
    assert cfg.get("ssh_config", "private_key_path") == ""
    assert cfg.get("node:node1", "roles") == "db_primary, etcd, kmc, app"
    assert cfg.get("node:node2", "roles") == "db_replica, etcd, kmc, app"
    assert cfg.get("paths", "state_dir") == lab.path("state")
    key = configparser.ConfigParser()
    key.read(lab.upgrade_key_ini)
    assert key.get("ssh_config", "password") == ""
    assert key.get("ssh_config", "private_key_path") == lab.identity
    for node in lab.nodes:
        assert cfg.get("node:" + node.name, "host") == node.address
        assert node.pid and os.path.exists("/proc/{}".format(node.pid))
    with open(lab.known_hosts) as f:
        hosts = {line.split()[0] for line in f}
    assert hosts == {"{},{}".format(n.name, n.address) for n in lab.nodes}


def test_ssh_by_key_strict_host_keys(lab):
    for name in node_names(lab):
        res = lab.ssh(name, "hostname", options=["StrictHostKeyChecking=yes"])
        assert res.rc == 0, res
        assert res.stdout.strip() == name


def test_ssh_by_password(lab):
    for name in node_names(lab):
        child = pexpect.spawn("ssh", ["-F", lab.ssh_config, "-o", "PubkeyAuthentication=no",
                                      "-o", "PreferredAuthentications=password",
                                      "-o", "NumberOfPasswordPrompts=1", name, "hostname"],
                              encoding="utf-8", timeout=30)
        child.expect("password:")
        child.sendline(lab.password)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        assert name in child.before


def test_ssh_wrong_password_is_refused(lab):
    child = pexpect.spawn("ssh", ["-F", lab.ssh_config, "-o", "PubkeyAuthentication=no",
                                  "-o", "PreferredAuthentications=password",
                                  "-o", "NumberOfPasswordPrompts=1", "node1", "true"],
                          encoding="utf-8", timeout=30)
    child.expect("password:")
    child.sendline("not-" + lab.password)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 255
    assert "Permission denied" in child.before


def test_systemd_running_and_units(lab):
    for name in node_names(lab):
        state = lab.exec(name, "systemctl is-system-running").stdout.strip()
        assert state == "running", (name, lab.exec(name, "systemctl --failed --no-legend").stdout)
        assert lab.exec(name, "systemctl is-active ssh").stdout.strip() == "active"
        for unit in ("mariadb", "etcd"):
            assert lab.exec(name, ["systemctl", "is-enabled", unit]).stdout.strip() == "masked"
        assert lab.exec(name, "cat /proc/1/comm").stdout.strip() == "systemd"


def test_hostnames_and_hosts_file(lab):
    for node in lab.nodes:
        assert lab.exec(node.name, "hostname").stdout.strip() == node.name
        hosts = lab.exec(node.name, "cat /etc/hosts").stdout
        for other in lab.nodes:
            assert "{}\t{}".format(other.address, other.name) in hosts


def test_nodes_see_each_other_over_the_bridge(lab):
    names = node_names(lab)
    for src in names:
        for dst in names:
            if src != dst:
                res = lab.exec(src, ["timeout", "5", "bash", "-c", "</dev/tcp/{}/22".format(dst)])
                assert res.rc == 0, (src, dst, res)
        route = lab.exec(src, "ip route").stdout
        assert "default" not in route


def test_etc_changes_stay_private(lab):
    name = "drupgrade-lab-test-" + uuid.uuid4().hex[:8]
    path = "/etc/" + name
    try:
        lab.exec("node1", ["sh", "-c", "echo private > " + path]).check()
        assert lab.exec("node1", ["cat", path]).stdout.strip() == "private"
        assert not os.path.exists(path)
        assert lab.exec("node2", ["test", "-e", path]).rc == 1
    finally:
        lab.exec("node1", ["rm", "-f", path])


def test_kernel_settings_are_read_only(lab):
    res = lab.exec("node1", "echo 1 > /proc/sys/net/ipv4/ip_forward")
    assert res.rc != 0
    assert lab.exec("node1", "touch /sys/lab-test").rc != 0


def test_cut_fails_ssh_within_keepalive_then_restore(lab):
    proc = subprocess.Popen(lab.ssh_argv("node3", "sleep 120", KEEPALIVE),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    try:
        time.sleep(1.5)
        assert proc.poll() is None
        lab.cut("node3")
        # keepalive 2 s x 2: ssh gives up after ~6 s; 60 s bounds a hang, not a benchmark
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 255, err
        assert lab.ssh("node3", "true", KEEPALIVE).rc == 255
    finally:
        if proc.poll() is None:
            proc.kill()
        lab.restore("node3")
    assert lab.ssh("node3", "true", KEEPALIVE).rc == 0


def test_rate_and_loss_apply_and_clear(lab):
    try:
        lab.rate("node3", "20mbit")
        lab.loss("node3", 0.05)
        rules = lab.exec("node3", "iptables -S").stdout
        assert rules.count("lab-loss") == 2
        qdisc = subprocess.check_output(["tc", "qdisc", "show", "dev", lab.name + "-n3"],
                                        universal_newlines=True)
        assert "tbf" in qdisc and "20Mbit" in qdisc
        assert lab.ssh("node3", "true").rc == 0
    finally:
        lab.clear("node3")
    assert "lab-loss" not in lab.exec("node3", "iptables -S").stdout
    assert "tbf" not in subprocess.check_output(["tc", "qdisc", "show", "dev", lab.name + "-n3"],
                                                universal_newlines=True)


def test_kill_sshd_sessions_closes_the_session(lab):
    proc = subprocess.Popen(lab.ssh_argv("node2", "sleep 60"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    try:
        for _ in range(120):  # a loaded machine may take a while to log the session in
            if "sshd: root@notty" in lab.exec("node2", "ps -eo args").stdout:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the ssh session never appeared on node2")
        time.sleep(0.5)  # the session's command is started by then too
        lab.kill_sshd_sessions("node2")
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 255, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert lab.ssh("node2", "true").rc == 0


def test_kill_node_and_start_node_keep_disk_state(lab):
    marker = "/root/lab-test-" + uuid.uuid4().hex[:8]
    lab.exec("node3", ["touch", marker]).check()
    old_pid = lab.node("node3").pid
    lab.kill_node("node3")
    assert not os.path.exists("/proc/{}".format(old_pid))
    assert lab.ssh("node3", "true", ["ConnectTimeout=3"]).rc == 255
    lab.start_node("node3")
    new_pid = lab.node("node3").pid
    assert new_pid and new_pid != old_pid
    assert lab.ssh("node3", ["test", "-e", marker]).rc == 0
    assert lab.exec("node3", "systemctl is-system-running").stdout.strip() == "running"
    lab.exec("node3", ["rm", "-f", marker])


def test_fill_disk_gives_enospc(lab):
    path = "/var/lib/lab-fill-test"
    try:
        lab.fill_disk("node2", path, "8M")
        res = lab.exec("node2", ["dd", "if=/dev/zero", "of={}/more".format(path), "bs=64k", "count=4"])
        assert res.rc != 0
        assert "No space left on device" in res.stderr
        assert not os.path.exists(path)  # the host is not touched
    finally:
        lab.unfill_disk("node2", path)
    assert lab.exec("node2", ["dd", "if=/dev/zero", "of={}/more".format(path), "bs=64k", "count=4"]).rc == 0
    lab.exec("node2", ["rm", "-rf", path])


def test_a_bounded_disk_fills_without_hiding_what_is_on_it(lab):
    """bound-disk: node2's /backup a disk of its own (the chaos campaign's fill_disk): full, it refuses
    writes and still shows what was written before; the node's restarts keep it."""
    try:
        lab.bound_disk("node2", "16M")
        lab.exec("node2", "echo kept > /backup/lab-bound-test")
        lab.fill_disk("node2", "/backup", "1M")
        res = lab.exec("node2", ["dd", "if=/dev/zero", "of=/backup/more", "bs=64k", "count=4"])
        assert res.rc != 0 and "No space left on device" in res.stderr
        assert lab.exec("node2", "cat /backup/lab-bound-test").stdout == "kept\n"
        lab.unfill_disk("node2", "/backup")
        assert lab.exec("node2", "df --output=size -k /backup | tail -n 1").stdout.strip() == "16384"
        assert lab.exec("node2", ["dd", "if=/dev/zero", "of=/backup/more", "bs=64k", "count=4"]).rc == 0
    finally:
        lab.unbound_disk("node2")
    assert lab.exec("node2", "test -e /backup/lab-bound-test").rc != 0  # the node's own /backup again
    assert lab.exec("node2", "systemctl is-system-running").stdout.strip() == "running"


def test_up_again_keeps_running_nodes(lab):
    before = {n.name: n.pid for n in lab.nodes}
    lab.up()
    assert {n.name: n.pid for n in lab.nodes} == before


# -- separate labs: up -> down leaves nothing behind ----------------------------------------

def _up_down_clean(small, nodes, scale):
    small.run("down")
    try:
        small.up(nodes=nodes, scale=scale)
        assert len(small.nodes) == nodes
        for node in small.nodes:
            res = small.ssh(node.name, "hostname")
            assert res.rc == 0 and res.stdout.strip() == node.name, res
        pids = [n.pid for n in small.nodes]
        with open(small.path("cgroups")) as f:
            bases = [line.strip() for line in f if line.strip()]
        assert all(os.path.isdir(os.path.join(b, "node1")) for b in bases)
        small.up()  # twice is fine
        assert [n.pid for n in small.nodes] == pids
    finally:
        small.run("down")
    assert leftovers(small, pids, bases) == []
    assert not os.path.exists(small.dir)
    return pids


def test_small_lab_up_down_leaves_nothing(lab):
    small = other_lab(lab, "s", 100)
    _up_down_clean(small, 2, scale=False)


def test_scale_lab_up_down_leaves_nothing(lab):
    small = other_lab(lab, "c", 101)
    _up_down_clean(small, 3, scale=True)
    # a lab in scale mode runs tini + sshd, no systemd (checked before down above via ssh)


def test_scale_nodes_run_tini_and_sshd(lab):
    small = other_lab(lab, "c", 101)
    small.run("down")
    try:
        small.up(nodes=2, scale=True)
        for node in small.nodes:
            assert small.exec(node.name, "cat /proc/1/comm").stdout.strip() == "tini"
            assert "sshd" in small.exec(node.name, "ps -eo comm").stdout
    finally:
        small.run("down")


def test_half_started_lab_is_repaired(lab):
    small = other_lab(lab, "s", 100)
    small.run("down")
    try:
        small.up(nodes=2)
        victim = small.node("node2").pid
        os.kill(victim, 9)
        small.up()
        assert small.node("node2").pid not in (None, victim)
        assert small.ssh("node2", "true").rc == 0
    finally:
        small.run("down")


def test_testinfra_with_the_lab_ssh_config(lab):
    testinfra = pytest.importorskip("testinfra")
    for name in node_names(lab):
        host = testinfra.get_host("ssh://" + name, ssh_config=lab.ssh_config)
        assert host.check_output("hostname") == name
        assert host.service("ssh").is_running
        assert host.file("/etc/hosts").contains(name)


def test_lab_py_runs_on_python36(lab):
    py36 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3")))
    if not py36:
        pytest.skip("no Python 3.6 under ~/.pyenv/versions (pyenv install 3.6.15)")
    code = ("import sys; sys.path.insert(0, {!r}); from lab import Lab; "
            "lab = Lab({!r}); print(lab.exec(lab.nodes[0].name, 'hostname').check().stdout.strip())"
            ).format(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), "tests", "lab"), lab.dir)
    out = subprocess.check_output([py36[-1], "-c", code], universal_newlines=True)
    assert out.strip() == lab.nodes[0].name


def test_grow_and_shrink(lab):
    small = other_lab(lab, "c", 101)
    small.run("down")
    try:
        small.up(nodes=2, scale=True)
        pids = [n.pid for n in small.nodes]
        small.up(nodes=3)
        assert [n.pid for n in small.nodes][:2] == pids
        assert small.ssh("node3", "hostname").stdout.strip() == "node3"
        assert "node3" in small.exec("node1", "cat /etc/hosts").stdout
        small.up(nodes=2)
        assert [n.name for n in small.nodes] == ["node1", "node2"]
        assert not os.path.exists(small.path("nodes/node3"))
        assert small.name + "-node3" not in subprocess.check_output(["ip", "netns", "list"],
                                                                    universal_newlines=True)
        cfg = configparser.ConfigParser()
        cfg.read(small.upgrade_ini)
        assert not cfg.has_section("node:node3")
    finally:
        small.run("down")
