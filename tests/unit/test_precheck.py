"""The precheck framework without a lab: records, report, answers, schema, controller checks,
and the node check scripts run locally against fake inputs (tests/integration/test_precheck.py
makes the same conditions real on the lab)."""
import json
import os
import subprocess

import jsonschema
import pytest

from drupgrade import answers, checks, engine, i18n, precheck, retry_policy
from drupgrade.checks import clock_skew, product_version
from drupgrade.errors import EXIT_CONFIRM, EXIT_PRECHECK, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(TOP, "lib", "python", "drupgrade", "schemas", "precheck_report.json")
CHECKS = os.path.join(TOP, "scripts", "checks")
DRP = os.path.join(TOP, "products", "drp")


class Node:
    def __init__(self, name, roles=("app",)):
        self.name, self.roles, self.host = name, list(roles), "10.0.0.%s" % name[-1]


class Cfg:
    def __init__(self, tmp_path, names=("node1", "node2", "node3")):
        self.nodes = [Node(n) for n in names]
        self.run = {"max_parallel": 4}
        self.paths = {"state_dir": str(tmp_path), "node_package_dir": "/p", "node_backup_dir": "/backup"}
        self.product_name = "drp"

    def section(self, name):
        return {"repo": "/nonexistent"}


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")
    yield
    i18n.set_lang("en")


def env(tmp_path, target="2.2.0"):
    e = precheck.Env(Cfg(tmp_path), None, TOP, target=target)
    e.runs = {n.name: precheck.NodeRun(n) for n in e.cfg.nodes}
    return e


RECORDS = "\n".join([
    "noise from a login banner",
    "@@F\tversion\t2.1.0",
    "@@I\tuid_2048\t/etc/passwd:28: drp:x:2048:2048:drp:/:/bin/false",
    "@@I\tuid_2048\t/etc/passwd:30: y:x:2049:2049:2048:/:/bin/false",
    "@@R\tuid_2048\tfail\t系统用户检查失败\tsystem user check failed\t请清理\tclean up",
    "@@R\tselinux\tpass\t正常\tok\t\t",
    "@@I\tpatches\tdpkg: drp-hotfix-kb1 1.0",
    "@@R\tpatches\task\t发现补丁\tpatches found\t回答\tanswer",
    "@@S\tdb_replication",
])


def report_for(tmp_path, records=RECORDS, node="node2"):
    e = env(tmp_path)
    precheck.parse_records(e.runs[node], records)
    findings = [f for r in e.runs.values() for f in r.findings]
    rep = precheck.Report(e, findings, [("uid_2048", {"zh": "", "en": ""}), ("selinux", {"zh": "", "en": ""}),
                                        ("patches", {"zh": "", "en": ""})])
    rep.questions = precheck.make_questions(findings)
    return rep


def test_records_become_findings_with_stable_ids(tmp_path):
    e = env(tmp_path)
    run = e.runs["node2"]
    precheck.parse_records(run, RECORDS)
    assert run.facts == {"version": "2.1.0"} and run.skipped == {"db_replication"}
    by_id = {f.id: f for f in run.findings}
    assert sorted(by_id) == ["patches.node2", "selinux.node2", "uid_2048.node2"]
    uid = by_id["uid_2048.node2"]
    assert uid.inhibitor and uid.message == {"zh": "系统用户检查失败", "en": "system user check failed"}
    assert len(uid.details) == 2 and uid.remediation["en"] == "clean up"
    assert by_id["selinux.node2"].remediation is None


def test_exit_codes_and_answers(tmp_path):
    rep = report_for(tmp_path)
    assert rep.exit_code == EXIT_PRECHECK  # the fail wins over the open question
    rep = report_for(tmp_path, RECORDS.replace("\tfail\t", "\tpass\t"))
    assert rep.exit_code == EXIT_CONFIRM
    precheck.answer_questions(rep, yes=True)
    assert rep.exit_code == 0 and rep.questions[0]["answered_by"] == "yes"
    rep = report_for(tmp_path, RECORDS.replace("\tfail\t", "\tpass\t"))
    precheck.answer_questions(rep, interactive=True, ask=lambda prompt: "n")
    assert rep.exit_code == EXIT_PRECHECK and [f.id for f in rep.inhibitors()] == ["patches.node2"]


def test_no_terminal_prompt_while_an_inhibitor_remains(tmp_path):
    rep = report_for(tmp_path)
    precheck.answer_questions(rep, interactive=True, ask=lambda prompt: pytest.fail("asked"))
    assert rep.unanswered()


def test_the_patch_question_is_the_designs(tmp_path):
    rep = report_for(tmp_path, RECORDS.replace("\tfail\t", "\tpass\t"))
    q = rep.questions[0]
    assert q["id"] == "patches.confirm" and q["nodes"] == ["node2"]
    assert q["question"]["en"].endswith("continue the upgrade? (Y/N)")
    assert "drp-hotfix-kb1 1.0" in q["question"]["en"]
    if i18n.find_catalog("zh"):  # built catalogs (make build)
        assert q["question"]["zh"] == ("发现节点[node2]已安装补丁[node2: drp-hotfix-kb1 1.0]，"
                                       "可能影响升级兼容性，是否继续升级？(Y/N)")


def test_answers_file_skeleton_round_trip(tmp_path):
    """The skeleton is an answers file (drupgrade.answers) with the question open; filled in, it
    answers the question. The format's own rules: tests/unit/test_answers.py."""
    rep = report_for(tmp_path, RECORDS.replace("\tfail\t", "\tpass\t"))
    path, skeleton = rep.write(str(tmp_path / "out"))
    text = open(skeleton, encoding="utf-8").read()
    assert "\npatches.confirm = \n" in text
    assert answers.read(skeleton) == {}
    with open(skeleton, "w") as f:
        f.write(text.replace("confirm = \n", "confirm = Y\n"))
    assert answers.read(skeleton) == {"patches.confirm": True}
    precheck.answer_questions(rep, answers_path=skeleton)
    assert rep.exit_code == 0 and rep.questions[0]["answered_by"] == "answers_file"


def test_report_json_follows_its_schema(tmp_path):
    schema = json.load(open(SCHEMA))
    jsonschema.Draft7Validator.check_schema(schema)
    for records in (RECORDS, RECORDS.replace("\tfail\t", "\tpass\t"), ""):
        rep = report_for(tmp_path, records)
        path, _skeleton = rep.write(str(tmp_path / "out"))
        data = json.load(open(path))
        jsonschema.validate(data, schema)
        assert data["exit_code"] == rep.exit_code
    bad = dict(data, findings=[{"id": "x", "check": "x", "node": "n", "severity": "fail", "inhibitor": False,
                                "message": {"zh": "", "en": ""}, "remediation": None, "details": []}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)  # a fail is always an inhibitor and says what to do


def test_table_is_check_by_node(tmp_path):
    head, rows = report_for(tmp_path).table_rows()
    assert head == ["check", "node1", "node2", "node3"]
    assert rows[0] == ["uid_2048", "-", "FAIL", "-"] and rows[2] == ["patches", "-", "ask", "-"]


def test_every_check_is_declared_once():
    node = [n for n, _h in precheck.node_checks(TOP, DRP)]
    ctrl = [m.ID for m in checks.discover()]
    assert len(set(node + ctrl)) == len(node + ctrl)
    for design in ("network_manager", "patches", "selinux", "uid_2048"):
        assert design in node
    for name, header in precheck.node_checks(TOP, DRP):
        assert header.get("Summary") and header.get("Summary-zh") and header.get("Roles"), name
    for m in checks.discover():
        assert m.STAGE in ("connect", "cluster") and m.SUMMARY


def test_a_products_checks_run_beside_the_tools_in_one_order(tmp_path):
    """products/<name>/checks/ (what names the product's services, paths, databases) join the
    generic scripts/checks/ in the node bundle and the report, in one NN- order; the tool's own
    checks name no product, and a product check reusing a name is exit 2."""
    names = [n for n, _h in precheck.node_checks(TOP, DRP)]
    assert names == sorted(names, key=lambda n: [f for f in precheck.check_files(TOP, DRP) if f.endswith(
        "-%s.sh" % n)][0])
    for own in ("db_replication", "etcd_health"):
        assert own in names and own not in [n for n, _h in precheck.node_checks(TOP)]
    for generic in ("disk_backup", "services"):  # parameterised by product.json and the strategy's bindings
        assert generic in [n for n, _h in precheck.node_checks(TOP)]
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(precheck.node_bundle(TOP, DRP)), mode="r:gz") as tar:
        got = tar.getnames()
    # laid out as in the node tool: the product's checks under products/<name>/checks/ (DR_PRODUCT)
    assert "products/drp/checks/70-db_replication.sh" in got and "checks/10-network_manager.sh" in got
    assert "bin/drcheck" in got and "checks/70-db_replication.sh" not in got
    assert "lib/check.sh" in got
    clash = tmp_path / "checks"
    clash.mkdir()
    (clash / "99-selinux.sh").write_text("# Summary: x\n")
    with pytest.raises(DrupgradeError) as e:
        precheck.node_checks(TOP, str(tmp_path))
    assert e.value.code == 2 and "selinux" in str(e.value)


def test_clock_skew_names_the_node_off_the_others(tmp_path):
    e = env(tmp_path)
    for name, off in (("node1", 100.2), ("node2", 100.0), ("node3", 93.0)):
        e.runs[name].offset, e.runs[name].rtt = off, 0.01
    found = {f.node: f for f in clock_skew.run(e)}
    assert found["node1"].severity == "pass" and found["node2"].severity == "pass"
    assert found["node3"].severity == "fail" and "-7.0 s" in found["node3"].message["en"]


def test_product_version_against_the_matrix(tmp_path):
    e = env(tmp_path, target="2.2.0")
    e.runs["node1"].facts["version"] = "2.1.0"
    e.runs["node2"].facts["version"] = "none"
    e.runs["node3"].error = ("down", None)
    found = {f.node: f for f in product_version.run(e)}
    assert found["node1"].severity == "pass" and "2.1.0 -> 2.2.0" in found["node1"].message["en"]
    assert found["node2"].severity == "fail" and "node3" not in found
    e = env(tmp_path, target="1.0.0")
    e.runs["node1"].facts["version"] = "2.1.0"
    assert product_version.run(e)[0].severity == "fail"
    e = env(tmp_path, target="2.2.0")
    e.versions_before = {"node1": "2.0.0"}
    e.runs["node1"].facts["version"] = "2.1.0"
    assert product_version.run(e)[0].severity == "fail"


def test_a_version_file_that_holds_no_version_is_a_failed_check_naming_it(tmp_path):
    e = env(tmp_path)
    e.runs["node1"].facts.update(version="none", version_text="2.2.0 rm -rf /")
    found = {f.node: f for f in product_version.run(e)}["node1"]
    assert found.severity == "fail" and "/opt/drp/VERSION holds '2.2.0 rm -rf /'" in found.message["en"]
    assert "不是版本号" in found.message["zh"] and "/opt/drp/VERSION" in found.remediation["en"]


def test_unanswered_precheck_in_a_run_exits_4():
    class F:
        def __init__(self, rc):
            self.rc = rc
    collected = retry_policy.load(os.path.join(TOP, "conf", "retry_policy.json"))["phase"]  # the precheck's policy
    assert engine.exit_for(engine.PhaseFailed("precheck", [F(4)], collected)) == EXIT_CONFIRM
    assert engine.exit_for(engine.PhaseFailed("precheck", [F(3)], collected)) == EXIT_PRECHECK


# -- node check scripts, run locally against fake inputs ----------------------------------
def run_check(name, tmp_path, env_extra=None, fake_bin=None):
    path = [p for p in os.listdir(CHECKS) if p.endswith("-%s.sh" % name)][0]
    e = dict(os.environ, DRUPGRADE_LANG="en", DR_NODE="n1")
    if fake_bin:
        d = tmp_path / ("bin%d" % len(os.listdir(str(tmp_path))))  # a fresh one per call
        d.mkdir()
        for tool, script in fake_bin.items():
            (d / tool).write_text("#!/bin/sh\n" + script)
            (d / tool).chmod(0o755)
        e["PATH"] = "%s:%s" % (d, "/usr/bin:/bin")
    e.update(env_extra or {})
    p = subprocess.run(["bash", os.path.join(CHECKS, path), "run"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, env=e)
    assert p.returncode == 0, p.stderr
    run = precheck.NodeRun(Node("n1"))
    precheck.parse_records(run, p.stdout)
    assert len(run.findings) == 1, p.stdout
    return run.findings[0]


def test_uid_2048_script(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndrp:x:2048:2048:drp:/var/lib/drp:/bin/false\n")
    assert run_check("uid_2048", tmp_path, {"DR_PASSWD_FILE": str(passwd)}).severity == "pass"
    passwd.write_text(passwd.read_text() + "old:x:3000:3000:was 2048:/:/bin/false\n")
    f = run_check("uid_2048", tmp_path, {"DR_PASSWD_FILE": str(passwd)})
    assert f.severity == "fail" and f.message["zh"] == "系统用户检查失败，发现多个2048用户，可能导致权限冲突"
    assert [d.split(":", 2)[1] for d in f.details] == ["2", "3"]


def test_selinux_script(tmp_path):
    f = run_check("selinux", tmp_path, fake_bin={"getenforce": "echo Permissive\n"})
    assert f.severity == "fail"
    assert f.message["zh"] == "SELinux状态检查失败，当前状态为Permissive，升级要求SELinux为Disabled状态"
    assert f.remediation["zh"] == "请执行 'setenforce 0' 和修改 '/etc/selinux/config' 文件禁用SELinux"
    assert run_check("selinux", tmp_path, fake_bin={"getenforce": "echo Disabled\n"}).severity == "pass"


def test_patches_script_reads_dpkg_and_rpm_records(tmp_path):
    dpkg = ("printf 'ii \\tlibc6\\t2.36\\tlibs\\nii \\tpatch\\t2.7\\tutils\\n"
            "ii \\tdrp-hotfix-kb9\\t1.0\\tadmin\\nrc \\tkpatch-patch-old\\t1\\tkernel\\n"
            "ii \\tkb2\\t2\\t\\tSecurity patch KB2 for openssl\\n'\n")
    rpm = "[ \"$1\" = -qa ] && [ $# -eq 1 ] && exit 0\nprintf 'kpatch-patch-5_10\\t1-1\\tSystem/Kernel\\n'\n"
    f = run_check("patches", tmp_path, fake_bin={"dpkg-query": dpkg, "rpm": rpm})
    assert f.severity == "ask"
    assert f.details == ["rpm: kpatch-patch-5_10 1-1", "dpkg: drp-hotfix-kb9 1.0", "dpkg: kb2 2"]
    f = run_check("patches", tmp_path, fake_bin={"dpkg-query": "printf 'ii \\tlibc6\\t2.36\\tlibs\\n'\n"})
    assert f.severity == "pass"


def test_state_dir_space_fails_on_a_full_controller_disk(tmp_path, tmpfs):
    """A real small tmpfs as the state dir: the check fails (inhibitor) and says what to do."""
    from drupgrade.checks import state_dir_space
    small = tmpfs("state", "16m")
    e = precheck.Env(Cfg(small), None, TOP, target="2.2.0")
    (f,) = state_dir_space.run(e)
    assert f.severity == "fail" and f.inhibitor and f.node == "controller"
    assert small in f.message["en"] and "(needed: 64 MB" in f.message["en"]
    assert "df -h " + small in f.remediation["en"]
    rep = precheck.Report(e, [f], [(state_dir_space.ID, i18n.both(state_dir_space.SUMMARY))])
    jsonschema.validate(json.loads(json.dumps(rep.as_dict())), json.load(open(SCHEMA)))
    (f,) = state_dir_space.run(precheck.Env(Cfg(tmp_path), None, TOP, target="2.2.0"))
    assert f.severity in ("pass", "warn") and str(tmp_path) in f.message["en"]


def test_report_and_answers_files_are_private_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        rep = report_for(tmp_path, RECORDS.replace("\tfail\t", "\tpass\t"))
        path, skeleton = rep.write(str(tmp_path / "out"))
    finally:
        os.umask(old)
    assert [oct(os.stat(p).st_mode & 0o777) for p in (str(tmp_path / "out"), path, skeleton)] == \
        ["0o700", "0o600", "0o600"]


def test_the_generic_checks_read_the_product_and_the_strategy_through_the_node_context(tmp_path):
    """services reads the units of the node's roles (product.json roles.<role>.units); disk_backup
    what the first hop's backup steps bound on this node archive: the DB primary dumps the
    databases, a replica does not (product.json steps), and a node without a version has no hop."""
    e = env(tmp_path)
    primary = precheck.node_context(e, Node("node1", ("db_primary", "etcd", "app")), "2.1.0")
    replica = precheck.node_context(e, Node("node2", ("db_replica", "kmc")), "2.1.0")
    assert primary["DR_UNITS"] == "drp-db.service drp-etcd.service drp-app.service"
    assert replica["DR_UNITS"] == "drp-db.service drp-kmc.service"
    for ctx in (primary, replica):
        assert ctx["DR_B_BACKUP_LOCAL_COMPONENT"] == "service/backup"
        assert ctx["DR_B_BACKUP_LOCAL_P_LINK"] == "/opt/drp"
        assert ctx["DR_B_BACKUP_LOCAL_P_DATA_DIR"] == "/var/lib/drp/data"
        assert not any(k.startswith("DR_B_ROLLBACK_") for k in ctx)  # rollback_tool's bindings
    assert primary["DR_B_BACKUP_DB_COMPONENT"] == "service/mariadb"
    assert primary["DR_B_BACKUP_DB_P_DATABASES"] == "drp"
    assert primary["DR_B_BACKUP_DB_P_OPTIONAL_DATABASES"] == "drp_audit"
    assert "DR_B_BACKUP_DB_COMPONENT" not in replica
    fresh = precheck.node_context(e, Node("node3", ("app",)), None)
    assert fresh["DR_UNITS"] == "drp-app.service" and not any(k.startswith("DR_B_") for k in fresh)


def test_a_runs_precheck_plans_each_node_on_the_runs_own_path(tmp_path):
    """A run that fell back from a failed jump (or a mixed cluster's combined order) runs the precheck
    on its journal's hops: a node's path is the run's from its version on, never the matrix's jump."""
    run_hops = [("1.0.0", "1.5.0"), ("1.5.0", "2.0.0"), ("2.0.0", "2.1.0"), ("2.1.0", "2.2.0")]
    e = precheck.Env(Cfg(tmp_path), None, TOP, target="2.2.0", hops=run_hops)
    assert e.node_paths("1.0.0") == run_hops  # the matrix alone would jump 1.0.0 -> 2.2.0
    assert e.node_paths("2.0.0") == run_hops[2:] and e.node_paths("9.9.9") == []
    alone = precheck.Env(Cfg(tmp_path), None, TOP, target="2.2.0")
    assert alone.node_paths("1.0.0") == [("1.0.0", "2.2.0")]


def test_a_cancelled_precheck_leaves_nothing_running_or_behind_on_the_node(tmp_path):
    """The node side of a precheck stopped by its timeout (engine._local_timed_out → cancel): its
    checks, still running (a check's child process too), are ended, their directory named by the
    precheck's token removed, and cancel returns once they have; a node whose checks had not begun
    never begins them; another precheck's directory is left alone. The node is this machine."""
    import io
    import tarfile
    import threading
    import time

    class Local:  # a transport whose nodes are this machine
        def run(self, node, argv, conn_type=None, stdin=None, timeout=None, retry=True):
            res = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
            res.rc, res.ssh_failed, res.stdout, res.stderr = (res.returncode, False, res.stdout.decode(),
                                                              res.stderr.decode())
            return res

    bundle = io.BytesIO()
    with tarfile.open(fileobj=bundle, mode="w:gz") as tar:
        script = b"#!/bin/bash\necho started\nsleep 600\n"
        info = tarfile.TarInfo("bin/drcheck")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    e, other = env(tmp_path), env(tmp_path)
    e.transport = Local()
    keep = "/run/drcheck.%s.kept" % other.token
    os.makedirs(keep)
    mine = lambda: [d for d in os.listdir("/run") if d.startswith("drcheck.%s." % e.token)]  # noqa: E731
    try:
        node1 = threading.Thread(target=precheck.run_node_checks, args=(e, e.runs["node1"], bundle.getvalue()))
        node1.start()
        for _i in range(100):
            if mine() and subprocess.run(["pgrep", "-f", "drcheck\\.%s\\..*/bin/drcheck" % e.token],
                                         stdout=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.05)
        assert mine() and e.in_flight == {"node1"}, "the node checks did not start"
        precheck.cancel(e)
        assert not node1.is_alive() and e.in_flight == set()
        assert mine() == [] and os.path.isdir(keep)
        assert [f.check for f in e.runs["node1"].findings] == ["drcheck"]  # ended: a failed check, rc 143
        precheck.run_node_checks(e, e.runs["node2"], bundle.getvalue())  # its turn came after the cancel
        assert "stopped (past its timeout) before the checks began on node node2" in e.runs["node2"].error[0]
        assert mine() == []
        assert subprocess.run(["pgrep", "-f", "sleep 600"], stdout=subprocess.PIPE).stdout == b""
    finally:
        os.rmdir(keep)
