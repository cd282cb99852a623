"""Prechecks against the lab (issue 6): conditions made real on the nodes, then restored.

One drp install for the module; the checks only read, so the tests share it. Every test
restores what it changed on a node (finally blocks), and checks that the precheck itself
changed nothing.
"""
import json
import os
import re
import shutil
import subprocess
import textwrap

import jsonschema
import labtools
import pytest
from labtools import LAB, LAB_DIR, TOP, UPGRADE

SCHEMA = os.path.join(TOP, "lib", "python", "drupgrade", "schemas", "precheck_report.json")
FROM, TO = "2.1.0", "2.2.0"

pytestmark = pytest.mark.usefixtures("lab")


def sh(*args, check=True, timeout=600, stdin=None):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode, p.stdout[-3000:],
                                                          p.stderr[-3000:]))
    return p


def ssh(node, command, check=True):
    return sh("ssh", "-F", os.path.join(LAB_DIR, "ssh_config"), node, command, check=check, timeout=300)


class Controller(labtools.Controller):
    """bin/upgrade.sh with its own config and state directory (stdin never a terminal; stdout
    and stderr apart, for the JSON report)."""

    def __init__(self, tmp_path):
        super().__init__(tmp_path, transfer={"connect_timeout": "5"})
        self.dir = tmp_path
        self.report_dir = tmp_path / "state" / "precheck"

    def __call__(self, *args, expect=0, lang="en"):
        p = sh(UPGRADE, "--config", self.config, "--lang", lang, *args, check=False, timeout=900, stdin="")
        assert p.returncode == expect, "upgrade.sh %s: rc %d, expected %d\n%s\n%s" % (
            " ".join(args), p.returncode, expect, p.stdout[-5000:], p.stderr[-5000:])
        return p

    def report(self, *args, expect=0):
        """precheck --json: the report, validated against its schema."""
        p = self("--json", *(args + ("precheck", "--to", TO)), expect=expect)
        report = json.loads(p.stdout)
        jsonschema.validate(report, json.load(open(SCHEMA)))
        assert report["exit_code"] == expect
        return report


def finding(report, check, node):
    found = [f for f in report["findings"] if f["check"] == check and f["node"] == node]
    assert len(found) == 1, (check, node, found)
    return found[0]


def failed(report):
    return sorted((f["check"], f["node"]) for f in report["findings"] if f["inhibitor"])


def node_fingerprint():
    """What must not change by a precheck: files, units and data the upgrade works on."""
    return {n: ssh(n, "cat /opt/drp/VERSION; readlink /opt/drp; ls /backup /var/lib/drupgrade 2>&1; "
                      "ls /run | grep -c drcheck; systemctl is-active drp-db drp-etcd drp-kmc drp-app",
                   check=False).stdout for n in ("node1", "node2", "node3")}


@pytest.fixture(scope="module")
def installed(lab):
    labtools.install(FROM)
    return lab


@pytest.fixture
def ctl(installed, tmp_path):
    return Controller(tmp_path)


def test_clean_lab_passes_and_changes_nothing(ctl):
    before = node_fingerprint()
    report = ctl.report(expect=0)
    assert failed(report) == [] and report["questions"] == []
    ids = [c["id"] for c in report["checks"]]
    for check in ("reachability", "network_manager", "patches", "selinux", "uid_2048", "disk_backup",
                  "disk_package", "memory", "services", "db_replication", "etcd_health", "clock_skew",
                  "product_version", "packages", "state_dir_space"):
        assert check in ids
    assert finding(report, "state_dir_space", "controller")["severity"] in ("pass", "warn")
    assert finding(report, "db_replication", "node2")["severity"] == "pass"
    assert not [f for f in report["findings"] if f["check"] == "db_replication" and f["node"] != "node2"]
    assert "2.1.0 -> 2.2.0" in finding(report, "product_version", "node1")["message"]["en"]
    assert "no SELinux tools" in finding(report, "selinux", "node1")["message"]["en"]
    assert node_fingerprint() == before
    p = ctl("precheck", "--to", TO)
    assert "precheck passed on every node" in p.stdout + p.stderr
    assert json.load(open(str(ctl.report_dir / "report.json")))["exit_code"] == 0


UNIT = r"printf '[Unit]\nDescription=drupgrade test stand-in\n[Service]\nExecStart=/bin/sleep infinity\n' > %s"


def test_design_checks(ctl):
    """The four checks of §4.2.4 at once on three nodes (each node's failure is its own; every
    check still runs), then the exemptions and the passing cases."""
    for unit in ("network", "NetworkManager"):
        ssh("node1", UNIT % ("/etc/systemd/system/%s.service" % unit))
    ssh("node2", "printf '#!/bin/sh\\necho Enforcing\\n' > /usr/local/sbin/getenforce && "
                 "chmod +x /usr/local/sbin/getenforce")
    ssh("node3", "cp -p /etc/passwd /etc/passwd.drupgrade-test && "
                 "echo 'svc2048:x:2049:2049:copy of 2048:/nonexistent:/usr/sbin/nologin' >> /etc/passwd")
    try:
        ssh("node1", "systemctl daemon-reload && systemctl start network NetworkManager")
        p = ctl("precheck", "--to", TO, expect=3, lang="zh")  # the terminal report, in Chinese
        out = p.stdout + p.stderr
        for text in ("检查失败：network和NetworkManager服务同时运行，可能导致网络冲突",
                     "SELinux状态检查失败，当前状态为Enforcing，升级要求SELinux为Disabled状态",
                     "请执行 'setenforce 0' 和修改 '/etc/selinux/config' 文件禁用SELinux",
                     "系统用户检查失败，发现多个2048用户，可能导致权限冲突", "请检查并清理重复的2048系统用户"):
            assert text in out
        report = json.load(open(str(ctl.report_dir / "report.json")))
        jsonschema.validate(report, json.load(open(SCHEMA)))
        assert failed(report) == [("network_manager", "node1"), ("selinux", "node2"), ("uid_2048", "node3")]
        nm = finding(report, "network_manager", "node1")
        assert nm["message"]["zh"] == "检查失败：network和NetworkManager服务同时运行，可能导致网络冲突"
        assert "Debian" in " ".join(nm["details"]) and nm["remediation"]["en"]
        se = finding(report, "selinux", "node2")
        assert se["message"]["zh"] == "SELinux状态检查失败，当前状态为Enforcing，升级要求SELinux为Disabled状态"
        assert se["remediation"]["zh"] == "请执行 'setenforce 0' 和修改 '/etc/selinux/config' 文件禁用SELinux"
        lines = [d for d in finding(report, "uid_2048", "node3")["details"] if d.startswith("/etc/passwd:")]
        assert len(lines) == 2
        assert any("drp:x:2048:2048:" in d for d in lines)
        assert any("svc2048:x:2049:2049:copy of 2048" in d for d in lines)

        # openEuler is exempt; getenforce saying Disabled passes; one uid-2048 user passes.
        ssh("node1", "cp --remove-destination /usr/lib/os-release /etc/os-release && "
                     "sed -i 's/^ID=.*/ID=openEuler/; s/^NAME=.*/NAME=\"openEuler\"/; "
                     "s/^PRETTY_NAME=.*/PRETTY_NAME=\"openEuler 22.03 LTS\"/' /etc/os-release")
        ssh("node2", "printf '#!/bin/sh\\necho Disabled\\n' > /usr/local/sbin/getenforce")
        ssh("node3", "mv /etc/passwd.drupgrade-test /etc/passwd")
        report = ctl.report(expect=0)
        nm = finding(report, "network_manager", "node1")
        assert nm["severity"] == "pass" and "openEuler 22.03 LTS" in nm["message"]["en"]
        assert "UOS/Kylin/openEuler" in nm["message"]["en"]
        assert finding(report, "selinux", "node2")["message"]["en"] == "SELinux is Disabled"

        # Back on Debian with only NetworkManager running: pass.
        ssh("node1", "ln -sf ../usr/lib/os-release /etc/os-release && systemctl stop network")
        report = ctl.report(expect=0)
        nm = finding(report, "network_manager", "node1")
        assert nm["severity"] == "pass" and "NetworkManager is active" in nm["message"]["en"]
        assert "Debian" in nm["message"]["en"]
    finally:
        ssh("node1", "ln -sf ../usr/lib/os-release /etc/os-release; systemctl stop network NetworkManager; "
                     "rm -f /etc/systemd/system/network.service /etc/systemd/system/NetworkManager.service; "
                     "systemctl daemon-reload")
        ssh("node2", "rm -f /usr/local/sbin/getenforce")
        ssh("node3", "if [ -e /etc/passwd.drupgrade-test ]; then mv /etc/passwd.drupgrade-test /etc/passwd; fi")


def make_patch_deb(tmp_path):
    """A real dpkg record, the way an operator's hotfix package arrives."""
    root = tmp_path / "deb"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / "drp-hotfix-kb1001").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / "drp-hotfix-kb1001" / "README").write_text("hotfix KB1001\n")
    (root / "DEBIAN" / "control").write_text(textwrap.dedent("""\
        Package: drp-hotfix-kb1001
        Version: 1.0-1
        Section: admin
        Priority: optional
        Architecture: all
        Maintainer: ops <ops@example.invalid>
        Description: system hotfix KB1001 (test record)
        """))
    deb = str(tmp_path / "drp-hotfix-kb1001_1.0-1_all.deb")
    sh("dpkg-deb", "--root-owner-group", "-b", str(root), deb)
    return deb


def test_recorded_patch_is_a_question(ctl, tmp_path):
    deb = make_patch_deb(tmp_path)
    sh("scp", "-F", os.path.join(LAB_DIR, "ssh_config"), deb, "node2:/tmp/hotfix.deb")
    ssh("node2", "dpkg -i /tmp/hotfix.deb >/dev/null && rm -f /tmp/hotfix.deb")
    try:
        # Unanswered, not a terminal: exit 4, says how to answer, leaves a skeleton.
        p = ctl("precheck", "--to", TO, expect=4)
        out = p.stdout + p.stderr
        assert "drp-hotfix-kb1001" in out and "--answers" in out and "--yes" in out
        skeleton = str(ctl.report_dir / "answers.ini")
        text = open(skeleton, encoding="utf-8").read()
        assert "\npatches.confirm = \n" in text
        assert ("发现节点[node2]已安装补丁[node2: drp-hotfix-kb1001 1.0-1]，可能影响升级兼容性，"
                "是否继续升级？(Y/N)") in text
        report = json.load(open(str(ctl.report_dir / "report.json")))
        jsonschema.validate(report, json.load(open(SCHEMA)))
        assert report["exit_code"] == 4 and failed(report) == []
        assert [q["id"] for q in report["questions"]] == ["patches.confirm"]
        assert report["questions"][0]["nodes"] == ["node2"]
        assert finding(report, "patches", "node2")["severity"] == "ask"

        report = ctl.report("--yes", expect=0)
        assert report["questions"][0]["answer"] is True and report["questions"][0]["answered_by"] == "yes"

        with open(skeleton, "w", encoding="utf-8") as f:
            f.write(text.replace("confirm = \n", "confirm = yes\n"))
        report = ctl.report("--answers", skeleton, expect=0)
        assert report["questions"][0]["answered_by"] == "answers_file"

        answers = str(tmp_path / "bad.ini")
        with open(answers, "w") as f:
            f.write("rollback.unfinished = continue\npatches.confirm = maybe\n")
        p = ctl("--answers", answers, "precheck", "--to", TO, expect=2)
        assert "line 2: patches.confirm = 'maybe' is not an answer" in p.stderr and answers in p.stderr

        # One answers file for both tools: the rollback's answer beside the precheck's.
        with open(answers, "w") as f:
            f.write("rollback.unfinished = continue\npatches.confirm = yes\n")
        report = ctl.report("--answers", answers, expect=0)
        assert report["questions"][0]["answered_by"] == "answers_file"

        # Phase 3 of run: the same question stops the run before anything is changed.
        p = ctl("run", "--to", TO, expect=4)
        assert "answer with --yes" in p.stdout + p.stderr
        assert ssh("node1", "cat /opt/drp/VERSION").stdout.strip() == FROM
    finally:
        ssh("node2", "dpkg --purge drp-hotfix-kb1001 >/dev/null")


def test_full_disk_stopped_replica_unreachable_node(ctl):
    """Three failures at once: every check still runs and each failure says what to do."""
    sh(LAB, "fault", "fill-disk", "node1", "/backup", "20M")
    ssh("node2", "mariadb -e 'STOP SLAVE'")
    sh(LAB, "fault", "cut", "node3")
    try:
        report = ctl.report(expect=3)
        assert failed(report) == [("db_replication", "node2"), ("disk_backup", "node1"), ("reachability", "node3")]
        for check, node in failed(report):
            assert finding(report, check, node)["remediation"]["en"]
        assert "/backup" in finding(report, "disk_backup", "node1")["message"]["en"]
        assert "START SLAVE" in finding(report, "db_replication", "node2")["remediation"]["en"]
        assert "node3" in finding(report, "reachability", "node3")["message"]["en"]
        assert finding(report, "selinux", "node1")["severity"] == "pass"  # the others still ran
        assert not [f for f in report["findings"] if f["node"] == "node3" and f["check"] != "reachability"]
    finally:
        sh(LAB, "fault", "restore", "node3")
        ssh("node2", "mariadb -e 'START SLAVE'")
        sh(LAB, "fault", "unfill-disk", "node1", "/backup")
    # A stopped replica database: its service and its replication fail.
    ssh("node2", "systemctl stop drp-db")
    try:
        report = ctl.report(expect=3)
        assert ("services", "node2") in failed(report) and ("db_replication", "node2") in failed(report)
        assert "drp-db" in finding(report, "services", "node2")["remediation"]["en"]
    finally:
        ssh("node2", "systemctl start drp-db")
    # Restored: clean again once replication has resumed (by itself, on start).
    ssh("node2", "for i in $(seq 60); do mariadb -e 'SHOW SLAVE STATUS\\G' | grep -q 'Slave_IO_Running: Yes' "
                 "&& exit 0; sleep 1; done; exit 1")
    assert failed(ctl.report(expect=0)) == []



def test_a_package_not_as_signed_stops_plan_run_and_resume_before_any_node(ctl, tmp_path):
    """H1 on the lab, whose config verifies signatures with the test key (every other lab run is
    the good path): a package changed after signing, or without its .sig, is exit 2 naming it, for
    plan, run and resume; no journal starts, no step runs, nothing changes on any node."""
    repo = tmp_path / "repo"
    shutil.copytree(os.path.join(TOP, "build", "packages"), str(repo))
    pkg = str(repo / "drp-2.2.0.tar.gz")
    with open(pkg, "rb") as f:
        good = f.read()
    with open(ctl.config) as f:
        text = f.read()
    assert "drp-TEST-ONLY-ed25519.pub" in text
    text = re.sub(r"(?m)^repo = .*$", "repo = " + str(repo), text)
    with open(ctl.config, "w") as f:
        f.write(text)
    current = tmp_path / "state" / "current_run.json"
    before = labtools.fingerprint(), node_fingerprint()

    with open(pkg, "ab") as f:
        f.write(b"\0")  # changed after it was signed
    auth = json.loads(ctl("--json", "plan", "--to", TO, expect=2).stdout)["upgrade_plan"]["package_authentication"]
    assert auth["method"] == "signature" and auth["key_type"] == "Ed25519"
    assert not auth["packages"][0]["verified"] and "fails its signature check" in auth["packages"][0]["problem"]
    for lang, words in (("en", "fails its signature check"), ("zh", "签名校验失败")):
        p = ctl("run", "--to", TO, expect=2, lang=lang)
        assert pkg in p.stderr and words in p.stderr, p.stderr
    os.unlink(pkg + ".sig")
    with open(pkg, "wb") as f:
        f.write(good)
    p = ctl("run", "--to", TO, expect=2)
    assert "package %s has no signature %s.sig" % (pkg, pkg) in p.stderr and "packaging/sign.sh" in p.stderr
    assert not current.exists()  # no journal: no step ran anywhere

    # A journaled run (init only: it reads the nodes' versions), then the package changes: resume refuses.
    shutil.copy(os.path.join(TOP, "build", "packages", "drp-2.2.0.tar.gz.sig"), pkg + ".sig")
    p = ctl("run", "--to", TO, "--only-phase", "init")
    assert "package drp-2.2.0.tar.gz: signature ok (Ed25519)" in p.stderr
    journal = json.load(open(str(current)))["journal"]
    with open(journal) as f:
        recorded = json.load(f)
    with open(pkg, "ab") as f:
        f.write(b"\0")
    p = ctl("resume", expect=2)
    assert pkg in p.stderr and "fails its signature check" in p.stderr
    with open(journal) as f:
        assert json.load(f) == recorded
    assert (labtools.fingerprint(), node_fingerprint()) == before

    # Without public_key it is said once, in the plan and in the run's log: packages are only checksummed.
    with open(pkg, "wb") as f:
        f.write(good)
    with open(ctl.config, "w") as f:
        f.write(re.sub(r"(?m)^public_key = .*\n", "", text))
    note = "packages are only checksummed"
    assert ctl("plan", "--to", TO).stdout.count(note) == 1
    p = ctl("run", "--to", TO, "--only-phase", "init")
    assert (p.stdout + p.stderr).count(note) == 1


def test_the_run_precheck_a_controller_step_has_the_timeout_watch_of_a_node_step(installed, tmp_path):
    """§4.3 for the controller's own steps (issue 16): the run's precheck (phase 3, `Runs:
    controller`) past its [timeouts] precheck is warned about at 85 % and 95 %, gets the timeout
    block with the controller's figures and context, and fails the run before any node changed
    (exit 3, the phase policy). node1's link is slowed so that the precheck outlasts 1 s."""
    before = node_fingerprint()
    ctl = labtools.Controller(tmp_path, timeouts={"precheck": 1})
    sh(LAB, "fault", "rate", "node1", "128kbit")
    try:
        out = ctl("run", "--to", TO, expect=3)
    finally:
        sh(LAB, "fault", "clear", "node1")
    head = "[precheck] controller precheck: "
    warning = out.index(head + "[warning] the operation will time out soon")
    urgent = out.index(head + "[urgent] the operation will time out soon")
    block = out.index("[error] upgrade operation timed out on node controller")
    assert warning < urgent < block
    for part in ("step: [pre-upgrade checks] ", "timeout setting: 1s", "current environment: CPU:",
                 "controller: load", "context saved in:"):
        assert part in out[block:], part
    context = open(re.search(r"context saved in: (\S+)", out).group(1), encoding="utf-8").read()
    assert "== threads" in context and "local-precheck-controller" in context
    j = ctl.journal()
    assert (j["status"], j["failed_phase"]) == ("failed", "precheck")
    assert j["results"]["run/precheck/controller"]["rc"] == 124
    assert node_fingerprint() == before
