"""Both tools: help, version, language, and the exit codes of SPEC 2.1 for usage errors."""
import hashlib
import json
import os
import subprocess
import sys
import tarfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, env=None):
    full_env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    full_env.pop("LC_ALL", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "drupgrade"] + list(args), env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


@pytest.mark.parametrize("tool", ["upgrade", "rollback"])
def test_help_and_version(tool):
    r = run(tool, "--help")
    assert r.returncode == 0 and "--config" in r.stdout and "--lang" in r.stdout
    r = run(tool, "--version")
    assert r.returncode == 0 and "drupgrade" in r.stdout


@pytest.mark.parametrize("tool", ["upgrade", "rollback"])
def test_help_in_chinese_by_flag_and_by_locale(tool):
    assert "显示本帮助信息并退出" in run(tool, "--lang", "zh", "--help").stdout
    assert "显示本帮助信息并退出" in run(tool, "--help", env={"LANG": "zh_CN.UTF-8"}).stdout
    assert "show this help message" in run(tool, "--help", env={"LANG": "en_US.UTF-8"}).stdout


@pytest.mark.parametrize("args", [["--bogus"], ["no-such-command"], ["--lang", "fr", "--help"], []])
def test_usage_errors_exit_2(args):
    r = run("upgrade", *args)
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()


def test_usage_error_in_chinese():
    r = run("upgrade", "--lang", "zh", "--bogus")
    assert r.returncode == 2 and "无法识别的参数" in r.stderr and "用法" in r.stderr


def test_unknown_tool_is_usage_error():
    assert run("explode").returncode == 2


def test_every_command_has_help(tmp_path):
    sys.path.insert(0, os.path.join(TOP, "lib", "python"))
    from drupgrade import cli
    for tool in cli.TOOLS:
        for name in cli.discover(tool):
            r = run(tool, name, "--help")
            assert r.returncode == 0, (tool, name, r.stderr)


KEY_ONLY_INI = """[ssh_config]
username = root
private_key_path = id_none

[node:node1]
host = 127.0.0.1
roles = db_primary, etcd, app

[paths]
state_dir = {state}

[run]
fault_injection = {faults}
"""


def ini(tmp_path, faults="off", mode=0o644, extra=""):
    path = tmp_path / "upgrade.ini"
    path.write_text(KEY_ONLY_INI.format(state=tmp_path / "state", faults=faults) + extra)
    os.chmod(str(path), mode)
    return str(path)


def repo(tmp_path, version="2.2.0"):
    """A package repository holding a minimal checksummed (unsigned) package of version."""
    d = tmp_path / "repo"
    d.mkdir()
    top = tmp_path / ("drp-" + version)
    top.mkdir()
    (top / "VERSION").write_text(version + "\n")
    pkg = d / ("drp-%s.tar.gz" % version)
    with tarfile.open(str(pkg), "w:gz") as t:
        t.add(str(top), arcname=top.name)
    digest = hashlib.sha256(pkg.read_bytes()).hexdigest()
    (d / (pkg.name + ".sha256")).write_text("%s  %s\n" % (digest, pkg.name))
    return "\n[packages]\nrepo = %s\n" % d


def run_umask(umask, *args):
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    return subprocess.run([sys.executable, "-m", "drupgrade"] + list(args), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, preexec_fn=lambda: os.umask(umask))


def test_state_is_private_even_under_umask_022(tmp_path):
    r = run_umask(0o022, "upgrade", "--config", ini(tmp_path), "--lang", "en", "status")
    assert r.returncode == 0, r.stderr
    state = tmp_path / "state"
    modes = {p: oct(os.stat(str(state / p)).st_mode & 0o777) for p in ("", "logs", "logs/controller.log")}
    assert modes == {"": "0o700", "logs": "0o700", "logs/controller.log": "0o600"}
    os.chmod(str(state), 0o755)  # an older tool made it so: the next start tightens it
    assert run_umask(0o022, "upgrade", "--config", ini(tmp_path), "status").returncode == 0
    assert oct(os.stat(str(state)).st_mode & 0o777) == "0o700"


def test_a_damaged_pointer_file_is_exit_2_naming_it_without_a_traceback(tmp_path):
    path = ini(tmp_path)
    os.makedirs(str(tmp_path / "state"))
    (tmp_path / "state" / "current_run.json").write_text('{"run_id": "run_1", "jou')
    r = run("upgrade", "--config", path, "--lang", "en", "status")
    assert r.returncode == 2, r.stderr
    assert "current_run.json is damaged" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "state" / "current_run.json").write_text('{"run_id": "run_1", "journal": "/etc/passwd/journal.json"}')
    r = run("upgrade", "--config", path, "--lang", "en", "status")
    assert r.returncode == 2 and "not a journal in" in r.stderr


def test_config_from_dev_zero_is_exit_2(tmp_path):
    r = run("upgrade", "--config", "/dev/zero", "--lang", "en", "status")
    assert r.returncode == 2 and "/dev/zero is not a regular file" in r.stderr


def test_fault_injection_is_warned_about_by_every_mutating_command(tmp_path):
    r = run("upgrade", "--config", ini(tmp_path, faults="on"), "--lang", "en", "retry")
    assert r.returncode == 1 and "no failed run to retry" in r.stderr
    assert "[WARNING] [run] fault_injection = on" in r.stderr and "test feature" in r.stderr
    log = open(str(tmp_path / "state" / "logs" / "controller.log"), encoding="utf-8").read()
    assert "fault_injection = on" in log
    assert "fault_injection" not in run("upgrade", "--config", ini(tmp_path, faults="on"), "status").stderr
    assert "fault_injection" not in run("upgrade", "--config", ini(tmp_path), "retry").stderr
    for cmd in ("run", "resume", "retry"):
        assert cli_module("upgrade", cmd).MUTATES
    for cmd in ("auto", "manual", "auto_continue_from", "step1", "step6"):
        assert cli_module("rollback", cmd).MUTATES
    for tool, cmd in (("upgrade", "status"), ("upgrade", "plan"), ("upgrade", "precheck"), ("rollback", "list")):
        assert not getattr(cli_module(tool, cmd), "MUTATES", False)


def cli_module(tool, name):
    sys.path.insert(0, os.path.join(TOP, "lib", "python"))
    from drupgrade import cli
    return cli.discover(tool)[name]


def fill(path):
    """Write zeros to the file at path until its filesystem is full."""
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_controller_disk_is_a_clear_error_without_a_traceback(tmp_path, tmpfs):
    """The state dir on a real, full 1 MB tmpfs: retry's journal write fails with ENOSPC."""
    state = tmp_path / os.path.basename(tmpfs("state", "1m"))
    journal = state / "runs" / "run_1" / "journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(json.dumps({"run_id": "run_1", "status": "failed", "events": [], "target": "2.2.0",
                                   "failed_phase": "init", "hops": [["2.1.0", "2.2.0"]],
                                   "failures": [{"node": "controller", "step": "load_packages", "reason": "x"}],
                                   "results": {"run/load_packages/controller": {"status": "failed"}}}))
    (state / "current_run.json").write_text(json.dumps({"run_id": "run_1", "journal": str(journal)}))
    (state / "logs").mkdir()
    (state / "run.lock").write_text("x" * 200)  # the lock's own write reuses this block
    fill(str(state / "filler"))
    config = ini(tmp_path, extra=repo(tmp_path))  # retry checks the packages before anything else
    r = run("upgrade", "--config", config, "--lang", "en", "retry")
    assert r.returncode == 1, r.stderr
    assert "no space left on the controller to write %s" % journal in r.stderr
    assert "df -h %s" % journal.parent in r.stderr and "Traceback" not in r.stderr
    assert sorted(os.listdir(str(journal.parent))) == ["journal.json"]
    assert json.loads(journal.read_text())["status"] == "failed"
    (state / "run.lock").write_text("")  # now the lock's own write meets the full disk
    fill(str(state / "filler"))
    r = run("upgrade", "--config", config, "--lang", "en", "retry")
    assert r.returncode == 1 and "no space left on the controller in %s" % state in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_any_disk_full_error_is_said_in_words(tmp_path, monkeypatch, capsys, tool_logging):
    """A write outside the state helpers (a step log, a report) that meets ENOSPC."""
    import errno as errno_
    sys.path.insert(0, os.path.join(TOP, "lib", "python"))
    from drupgrade import cli
    from drupgrade.commands.upgrade import steps as steps_cmd

    def full(ctx):
        raise OSError(errno_.ENOSPC, "No space left on device", "/var/lib/drupgrade/logs/run_1/node1/unzip.log")
    monkeypatch.setattr(steps_cmd, "run", full)
    umask = os.umask(0o022)
    try:
        assert cli.main(["upgrade", "--lang", "en", "steps"]) == 1
    finally:  # main() sets up the tool's umask (and logging: tool_logging); the other tests keep theirs
        os.umask(umask)
    err = capsys.readouterr().err
    assert "no space left on the controller to write /var/lib/drupgrade/logs/run_1/node1/unzip.log" in err
    assert "df -h /var/lib/drupgrade/logs/run_1/node1" in err and "internal error" not in err


def test_to_and_mode_are_declared_once_for_plan_run_and_precheck():
    from drupgrade import cli, versions
    parser = cli.build_parser("upgrade")
    for command, required in (("plan", True), ("run", True), ("precheck", False)):
        argv = [command] + (["--to", "2.2.0"] if required else [])
        assert parser.parse_args(argv).mode == "auto"
        for mode in versions.MODES:
            assert parser.parse_args(argv + ["--mode", mode]).mode == mode
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(argv + ["--mode", "sideways"])
        assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["plan"])  # --to is required there
    assert parser.parse_args(["precheck"]).to is None


@pytest.mark.parametrize("tool, command", [("upgrade", ["plan", "--to", "2.2.0"]), ("upgrade", ["status"]),
                                           ("rollback", ["list"]), ("rollback", ["status"])])
def test_global_options_before_or_after_the_command_and_after_wins(tool, command):
    from drupgrade import cli
    parser = cli.build_parser(tool)
    plain = parser.parse_args(command)
    assert (plain.json, plain.yes, plain.verbose, plain.config, plain.lang, plain.take_over) == (
        False, False, False, None, None, False)
    before = parser.parse_args(["--json", "--yes", "-v", "--config", "a.ini", "--lang", "zh"] + command)
    after = parser.parse_args(command + ["--json", "--yes", "-v", "--config", "a.ini", "--lang", "zh"])
    for args in (before, after):
        assert (args.json, args.yes, args.verbose, args.config, args.lang) == (True, True, True, "a.ini", "zh")
        assert args.module is parser.parse_args(command).module
    both = parser.parse_args(["--config", "before.ini", "--lang", "zh"] + command + ["--config", "after.ini",
                                                                                     "--lang", "en"])
    assert (both.config, both.lang) == ("after.ini", "en")
    only_before = parser.parse_args(["--config", "before.ini", "--take-over"] + command + ["--lang", "en"])
    assert (only_before.config, only_before.take_over, only_before.lang) == ("before.ini", True, "en")


def test_the_language_given_after_the_command_speaks_the_usage_error():
    r = run("upgrade", "--lang", "en", "plan", "--to", "2.2.0", "--bogus", "--lang", "zh")
    assert r.returncode == 2 and "无法识别的参数" in r.stderr
    r = run("upgrade", "plan", "--to", "2.2.0", "--json", "--config", "/nonexistent/upgrade.ini")
    assert r.returncode == 2 and "unrecognized" not in r.stderr and "/nonexistent/upgrade.ini" in r.stderr
