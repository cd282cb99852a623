"""Both tools: help, version, language, and the exit codes of SPEC 2.1 for usage errors."""
import os
import subprocess
import sys

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
