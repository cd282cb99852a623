"""The phase table and the step declarations as scripts/steps/ holds them (drupgrade.steps), and
what is derived from them: the engine's once-per-run phases, the CLI's phase choices and the
`steps` view, rollback_tool's stepN commands, the docs' step table."""
import inspect
import os
import re
import shutil
import subprocess
import sys

import pytest

from drupgrade import cli, i18n, nodeops, product, retry_policy, rollback, steps
from drupgrade.commands.upgrade import steps as steps_cmd
from drupgrade.errors import EXIT_USAGE, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = os.path.join(TOP, "scripts", "steps")
POLICIES = retry_policy.load(os.path.join(TOP, "conf", "retry_policy.json"))
PHASES = ("init", "distribute_tool", "precheck", "distribute_package", "backup", "upgrade", "postcheck")


def phase_dir(root, name, label="a label", label_zh="标签", scope="hop"):
    d = root / name
    d.mkdir(parents=True)
    lines = ["# Label: " + label if label else "", "# Label-zh: " + label_zh if label_zh else "",
             "# Scope: " + scope if scope else ""]
    (d / "PHASE").write_text("".join(ln + "\n" for ln in lines if ln), encoding="utf-8")
    return d


def step_file(d, fname, **keys):
    header = dict({"Summary": "does a thing", "Summary-zh": "做一件事", "Timeout": "60", "Retry": "direct"}, **keys)
    text = "#!/usr/bin/env bash\n" + "".join("# %s: %s\n" % kv for kv in header.items() if kv[1] is not None)
    (d / fname).write_text(text + "step::main \"$@\"\n", encoding="utf-8")


def refused(fn, *words):
    with pytest.raises(DrupgradeError) as e:
        fn()
    assert e.value.code == EXIT_USAGE
    for w in words:
        assert w in e.value.message
    return e.value


# -- the phase table ---------------------------------------------------------------------------
def test_ls_scripts_steps_is_the_phase_table_in_run_order():
    assert sorted(os.listdir(STEPS)) == ["1-init", "2-distribute_tool", "3-precheck", "4-distribute_package",
                                         "5-backup", "6-upgrade", "7-postcheck", "rollback"]
    assert steps.phase_names() == PHASES
    assert [p.name for p in steps.phases() if p.once_per_run] == ["init", "distribute_tool", "precheck"]
    assert [steps.once_per_run(p) for p in PHASES] == [True] * 3 + [False] * 4
    i18n.set_lang("en")
    assert steps.phase_label("backup") == "backup" and steps.phase_label("precheck") == "pre-upgrade checks"
    i18n.set_lang("zh")
    try:
        assert steps.phase_label("backup") == "备份流程" and steps.phase_label("rollback") == "回滚流程"
    finally:
        i18n.set_lang("en")


def test_phases_are_read_in_the_order_of_their_numbers(tmp_path):
    phase_dir(tmp_path, "10-late")
    phase_dir(tmp_path, "2-early", scope="run")
    phase_dir(tmp_path, "rollback", scope=None)
    (tmp_path / "notes").mkdir()  # not N-name: not a phase
    assert [(p.name, p.order, p.once_per_run) for p in steps.phases(str(tmp_path))] == [
        ("early", 2, True), ("late", 10, False)]
    assert steps.phase("rollback", str(tmp_path)).order is None


@pytest.mark.parametrize("make, words", [
    (lambda r: (r / "3-x").mkdir(), ["3-x/PHASE", "the file is missing"]),
    (lambda r: phase_dir(r, "3-x", scope="sometimes"), ["Scope 'sometimes'"]),
    (lambda r: phase_dir(r, "3-x", label_zh=None), ["Label and Label-zh"]),
    (lambda r: (phase_dir(r, "3-x"), phase_dir(r, "3-y")), ["also used by"]),
])
def test_a_bad_phase_declaration_is_exit_2_naming_its_file(tmp_path, make, words):
    make(tmp_path)
    refused(lambda: steps.phases(str(tmp_path)), "phase declaration", *words)


# -- the steps ---------------------------------------------------------------------------------
def test_every_step_is_declared_beside_its_phase_the_controllers_own_included():
    found = steps.discover(STEPS, POLICIES)
    assert [s.phase for s in found] == sorted((s.phase for s in found), key=PHASES.index)
    assert [s.name for s in found if s.local] == ["load_packages", "load_nodes", "upload_tool", "precheck",
                                                  "upload_package", "collect_manifest"]
    assert [s.name for s in found if s.phase == "backup"] == [
        "stop_services", "backup_db", "stop_db", "backup_local", "collect_manifest", "delete_services"]
    for s in found:
        assert os.path.dirname(s.path).endswith("-" + s.phase) and s.path.endswith("-%s.sh" % s.name)


def test_no_node_changes_the_product_before_the_whole_clusters_backup_is_collected():
    """The node steps after collect_manifest wait for it on every node (a cluster barrier): a node
    whose backup runs late (a retry) still reads the other nodes' services, e.g. the etcd cluster."""
    found = steps.discover(STEPS, POLICIES)
    names = [s.name for s in found]
    after = found[names.index("collect_manifest") + 1]
    assert (after.name, after.local, after.barrier) == ("delete_services", False, "cluster")


def test_each_controller_step_has_its_implementation_and_each_implementation_its_declaration():
    declared = {s.name for s in steps.discover(STEPS, POLICIES) if s.local}
    methods = {name[len("step_"):] for name, _f in inspect.getmembers(nodeops.NodeOps, inspect.isfunction)
               if name.startswith("step_")}
    assert declared == methods


def test_a_controller_step_file_is_a_header_only():
    for s in steps.discover(STEPS, POLICIES):
        if s.local:
            body = [ln for ln in open(s.path, encoding="utf-8") if not ln.startswith("#")]
            assert body == [], s.path


def test_a_steps_phase_is_its_directory(tmp_path):
    d = phase_dir(tmp_path, "4-work")
    step_file(d, "20-second.sh")
    step_file(d, "5-first.sh", Runs="controller")
    step_file(d, "notes.txt")
    found = steps.discover(str(tmp_path), POLICIES)
    assert [(s.name, s.phase, s.order, s.local) for s in found] == [
        ("first", "work", 5, True), ("second", "work", 20, False)]


@pytest.mark.parametrize("keys, words", [
    ({"Runs": "elsewhere"}, ["Runs 'elsewhere'"]),
    ({"Retry": "sometimes"}, ["Retry 'sometimes'"]),
    ({"Timeout": None}, ["Timeout must be"]),
    ({"Summary-zh": None}, ["Summary and Summary-zh"]),
    ({"Barrier": "wall"}, ["Barrier 'wall' is not one of"]),
    ({"Rollback-step": "1"}, ["Rollback-step are for the steps of rollback/ only"]),
    ({"Estimate": "soon"}, ["Estimate must be a positive number of seconds"]),
])
def test_a_bad_step_declaration_is_exit_2_naming_its_file(tmp_path, keys, words):
    step_file(phase_dir(tmp_path, "4-work"), "10-bad.sh", **keys)
    refused(lambda: steps.discover(str(tmp_path), POLICIES), "step declaration", "10-bad.sh", *words)


def test_an_upgrade_step_may_declare_its_estimate(tmp_path):
    step_file(phase_dir(tmp_path, "4-work"), "10-est.sh", Estimate="45")
    (s,) = steps.discover(str(tmp_path), POLICIES)
    assert s.estimate == 45 and s.number is None


def test_the_header_is_read_up_to_its_end_and_the_first_value_counts(tmp_path):
    d = phase_dir(tmp_path, "5-backup")
    (d / "10-stop.sh").write_text(
        "#!/usr/bin/env bash\n# Summary: stop the services\n# Summary-zh: 停止服务\n# Timeout: 60\n"
        "# Retry: direct\n# Roles: db_primary, app\n# Barrier: node\n# Summary: a second Summary line does not "
        "count\nsource x\n# Timeout: 5 (after the header: not read)\n", encoding="utf-8")
    header = steps.read_header(str(d / "10-stop.sh"))
    assert header["Summary"] == "stop the services" and header["Timeout"] == "60"
    (s,) = steps.discover(str(tmp_path), POLICIES)
    assert (s.name, s.order, s.phase, s.timeout, s.retry, s.barrier) == ("stop", 10, "backup", 60, "direct", "node")
    assert s.roles == ["db_primary", "app"] and s.fanout == "parallel" and s.kind == "file"


def test_a_step_summary_in_the_operators_language(tmp_path):
    step_file(phase_dir(tmp_path, "5-backup"), "10-stop.sh", Summary="stop the services", **{"Summary-zh": "停止服务"})
    (s,) = steps.discover(str(tmp_path), POLICIES)
    assert s.summary == "stop the services"
    i18n.set_lang("zh")
    try:
        assert s.summary == "停止服务"
        s.summary_zh = ""
        assert s.summary == "stop the services"  # no zh text: the English one
    finally:
        i18n.set_lang("en")


def test_a_step_name_is_one_step_across_phases_and_other_files_are_ignored(tmp_path):
    step_file(phase_dir(tmp_path, "5-backup"), "10-stop.sh")
    step_file(tmp_path / "5-backup", "20-Upper.sh")  # not NN-name.sh with a lowercase name
    (tmp_path / "5-backup" / "README.md").write_text("not a step")
    step_file(phase_dir(tmp_path, "6-upgrade"), "10-stop.sh")
    assert [s.name for s in steps.discover(str(tmp_path), POLICIES, phases=("backup",))] == ["stop"]
    refused(lambda: steps.discover(str(tmp_path), POLICIES), "the step name is also used by", "5-backup/10-stop.sh")


def test_a_step_runs_on_the_nodes_of_its_roles(tmp_path):
    step_file(phase_dir(tmp_path, "5-backup"), "10-stop.sh", Roles="db_primary, app")
    (s,) = steps.discover(str(tmp_path), POLICIES)

    class Node:
        def __init__(self, *roles):
            self.roles = list(roles)
    assert s.runs_on(Node("app")) and s.runs_on(Node("db_primary", "etcd")) and not s.runs_on(Node("etcd"))


# -- rollback_tool's numbered steps ------------------------------------------------------------
def rollback_dir(root, numbered=4, extra=None):
    d = phase_dir(root, "rollback", scope=None)
    step_file(d, "05-check.sh")
    for n in range(1, numbered + 1):
        keys = {"Rollback-step": str(n), "Label": "step %d" % n, "Label-zh": "第%d步" % n, "Estimate": str(10 * n)}
        if n in (2, 3):
            keys["Parallel-group"] = "restore"
        keys.update((extra or {}).get(n, {}))
        step_file(d, "%d0-s%d.sh" % (n, n), **keys)
    return d


def test_the_rollback_steps_are_their_headers():
    found = steps.rollback_steps()
    assert [(s.number, s.name, s.label_en, s.estimate) for s in found] == [
        (1, "rollback_stop", "stop the current services", 30), (2, "rollback_db", "restore the database", 180),
        (3, "rollback_program", "restore the program directory", 60),
        (4, "rollback_config", "restore the system config", 30), (5, "rollback_start", "start the services", 90),
        (6, "rollback_verify", "verify the result", 60)]
    assert [s.number for s in found if s.group == rollback.RESTORE_GROUP] == [2, 3, 4]
    assert rollback.CHECK_STEP not in [s.name for s in found]  # the pre-step check has no number
    i18n.set_lang("zh")
    try:
        assert rollback.label(2) == "恢复数据库"
    finally:
        i18n.set_lang("en")


@pytest.mark.parametrize("extra, words", [
    ({3: {"Rollback-step": "4"}}, ["30-s3.sh", "Rollback-step 4 is out of order", "this one is 3"]),
    ({2: {"Label-zh": None}}, ["20-s2.sh", "Label and Label-zh"]),
    ({1: {"Estimate": "soon"}}, ["10-s1.sh", "Estimate must be"]),
    ({4: {"Parallel-group": "restore"}, 3: {"Parallel-group": None}}, ["40-s4.sh", "Parallel-group restore"]),
    ({1: {"Rollback-step": "first"}}, ["10-s1.sh", "Rollback-step must be a number"]),
])
def test_bad_rollback_declarations_are_exit_2_naming_the_file(tmp_path, extra, words):
    rollback_dir(tmp_path, extra=extra)
    refused(lambda: steps.rollback_steps(str(tmp_path)), "step declaration", *words)


def test_rollback_tool_has_a_step_command_per_declared_step(tmp_path, monkeypatch, capsys):
    """Five declared steps: step1 … step5 with their labels as help (en and zh), auto_continue_from
    1-5, the one-click groups and the progress box from the same headers."""
    rollback_dir(tmp_path, numbered=5)
    monkeypatch.setattr(steps, "STEPS_DIR", str(tmp_path))
    assert rollback.numbers() == [1, 2, 3, 4, 5]
    for lang, text in (("en", "manual session step 3: step 3"), ("zh", "手动回滚第 3 步：第3步")):
        i18n.set_lang(lang)
        try:
            parser = cli.build_parser("rollback")
            with pytest.raises(SystemExit) as e:
                parser.parse_args(["step3", "--help"])
        finally:
            i18n.set_lang("en")
        assert e.value.code == 0 and text in capsys.readouterr().out
    parser = cli.build_parser("rollback")
    assert sorted(c for c in cli.discover("rollback") if c.startswith("step")) == ["step%d" % n for n in range(1, 6)]
    assert parser.parse_args(["auto_continue_from", "5"]).n == 5
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["step6"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["auto_continue_from", "6"])
    assert e.value.code == 2
    assert "(1-5)" in capsys.readouterr().err + parser._subparsers._group_actions[0].choices[
        "auto_continue_from"].format_help()
    box = "\n".join(rollback.box_lines("T", {n: "pending" for n in rollback.numbers()}, "now", 0,
                                       {n: 10 for n in rollback.numbers()}, {}))
    assert "step 5" in box and "0/5 steps done" in box


def test_a_broken_rollback_declaration_is_exit_2_before_any_command(tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(os.path.join(TOP, "scripts"), str(root / "scripts"))
    path = root / "scripts" / "steps" / "rollback" / "30-rollback_program.sh"
    path.write_text(path.read_text(encoding="utf-8").replace("# Rollback-step: 3", "# Rollback-step: 7"),
                    encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), DRUPGRADE_ROOT=str(root))
    r = subprocess.run([sys.executable, "-m", "drupgrade", "rollback", "--lang", "en", "status"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert r.returncode == 2 and "30-rollback_program.sh is invalid: Rollback-step 7 is out of order" in r.stderr
    assert "Traceback" not in r.stderr


# -- the commands and the docs -----------------------------------------------------------------
def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    env.pop("LC_ALL", None)
    return subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", "en"] + list(args), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_steps_shows_one_phase_and_the_cli_takes_the_phases_of_the_table():
    r = run_cli("steps", "--phase", "backup")
    rows = r.stdout.splitlines()[1:]
    assert r.returncode == 0 and [row.split()[1] for row in rows] == [
        "stop_services", "backup_db", "stop_db", "backup_local", "collect_manifest", "delete_services"]
    assert all(row.split()[0] == "backup" for row in rows) and "collect and check" in r.stdout
    r = run_cli("--json", "steps")
    assert r.returncode == 0 and '"scope": "run"' in r.stdout
    for args in (("steps", "--phase", "teardown"), ("run", "--to", "2.2.0", "--only-phase", "teardown")):
        r = run_cli(*args)
        assert r.returncode == 2 and "invalid choice: 'teardown'" in r.stderr and "'postcheck'" in r.stderr


def test_the_steps_table_lines_up_in_chinese_too():
    """The columns are terminal cells: a zh header (two cells per character) keeps the rows aligned."""
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    env.pop("LC_ALL", None)
    for lang in ("en", "zh"):
        r = subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--lang", lang, "steps"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        lines = r.stdout.splitlines()
        assert r.returncode == 0 and len(lines) > 20
        # where each row's retry column starts, in terminal cells: the same for the header and every row
        starts = {i18n.cells(line[:line.index(word, 40)]) for line, word in
                  zip(lines, [lines[0].split()[3]] + [row.split()[3] for row in lines[1:]])}
        assert starts == {50}, (lang, starts)


def test_the_step_table_of_docs_upgrade_md_is_the_declarations():
    """Fails when a step declaration changes and the docs do not: run 'make docs'."""
    text = open(os.path.join(TOP, "docs", "upgrade.md"), encoding="utf-8").read()
    m = re.search(re.escape(steps_cmd.DOC_START) + r".*?" + re.escape(steps_cmd.DOC_END) + "\n", text, re.S)
    assert m, "docs/upgrade.md has no generated step table"
    drp = product.load("drp").step_roles  # which nodes each step runs on is the product's
    assert m.group(0) == steps_cmd.markdown(steps.discover(STEPS, POLICIES, roles=drp)), "run 'make docs'"


def test_the_step_table_of_docs_rollback_md_names_the_declared_steps():
    text = open(os.path.join(TOP, "docs", "rollback.md"), encoding="utf-8").read()
    rows = re.findall(r"^\| ([0-9]+) \| `([a-z_]+)` \|", text, re.M)
    assert [(int(n), name) for n, name in rows] == [(s.number, s.name) for s in steps.rollback_steps()]


def test_drstep_reads_the_same_table_as_the_controller():
    """bash (drstep list) and Python (steps.discover) list the same steps of scripts/steps/ in the
    same order, with the same phases; the controller's own marked as such."""
    env = dict(os.environ, DRSTEP_STEPS_DIR=STEPS, DRUPGRADE_LANG="en")
    out = subprocess.check_output([os.path.join(TOP, "scripts", "bin", "drstep"), "list"], env=env,
                                  universal_newlines=True)
    rows = [line.split()[:2] + ["(runs on the controller)" in line] for line in out.splitlines()]
    found = steps.discover(STEPS, POLICIES) + steps.discover(STEPS, POLICIES, phases=(steps.ROLLBACK_PHASE,))
    assert rows == [[s.name, s.phase, s.local] for s in found]
