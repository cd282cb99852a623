"""Bash completion of both tools (drupgrade.completion), run in real bash: commands, options after a
command, global options before and after it, and the values an option declares."""
import os
import subprocess
import sys

import pytest

from drupgrade import cli, completion

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    d = tmp_path_factory.mktemp("completion")
    found = {}
    for tool in cli.TOOLS:
        path = d / cli.TOOLS[tool][0]
        path.write_text(completion.script(tool))
        found[tool] = str(path)
    return found


def complete(path, tool, line):
    """What bash offers for the last word of `line` (a trailing space: a new, empty word)."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    p = subprocess.run(["bash", "-c", 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$0"; '
                        'printf "%s\\n" "${COMPREPLY[@]}"', completion.function_name(tool), path] + words,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       cwd=os.path.dirname(path))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return sorted(w for w in p.stdout.splitlines() if w)


@pytest.mark.parametrize("tool, line, expected", [
    ("upgrade", "upgrade.sh pl", ["plan", "plugins"]),
    ("upgrade", "upgrade.sh --json --config a.ini pl", ["plan", "plugins"]),  # global options before it
    ("upgrade", "upgrade.sh lo", ["logs"]),
    ("upgrade", "upgrade.sh plan --m", ["--mode"]),  # a command's own option
    ("upgrade", "upgrade.sh plan --to 2.2.0 --js", ["--json"]),  # a global option after the command
    ("upgrade", "upgrade.sh plan --mode ", ["auto", "jump", "progressive"]),  # its declared choices
    ("upgrade", "upgrade.sh logs install --n", ["--node"]),
    ("upgrade", "upgrade.sh status --lang ", ["en", "zh"]),
    ("upgrade", "upgrade.sh --l", ["--lang"]),
    ("upgrade", "upgrade.sh nodes --a", ["--accept-new-key", "--answers"]),
    ("upgrade", "upgrade.sh nodes --to ", []),  # not an option of nodes: nothing made up
    ("rollback", "rollback_tool au", ["auto", "auto_continue_from"]),
    ("rollback", "rollback_tool --lang zh li", ["list"]),
    ("rollback", "rollback_tool list --in", ["--install-tool"]),
    ("rollback", "rollback_tool prune --dry-run --y", ["--yes"]),
    ("rollback", "rollback_tool step", None),  # one command per declared rollback step
])
def test_bash_completes_commands_options_and_global_options(scripts, tool, line, expected):
    if expected is None:
        from drupgrade import rollback
        expected = ["step%d" % n for n in rollback.numbers()]
    assert complete(scripts[tool], tool, line) == sorted(expected)


@pytest.mark.parametrize("tool", sorted(cli.TOOLS))
def test_every_command_and_every_option_it_declares_is_offered(scripts, tool):
    parser = cli.build_parser(tool)
    prog = cli.TOOLS[tool][0]
    assert complete(scripts[tool], tool, prog + " ") == sorted(cli.discover(tool))
    for name, sub in parser.commands.items():
        declared = sorted(n for d in sub.declared for n in d["names"] if n.startswith("--"))
        assert complete(scripts[tool], tool, "%s %s --" % (prog, name)) == declared, name
    assert "--config" in complete(scripts[tool], tool, prog + " --")


def test_a_file_option_completes_files(scripts, tmp_path):
    (tmp_path / "upgrade.ini").write_text("")
    path = tmp_path / "c.bash"
    path.write_text(completion.script("upgrade"))
    assert complete(str(path), "upgrade", "upgrade.sh status --config upg") == ["upgrade.ini"]


def test_the_module_writes_a_tools_script_and_refuses_anything_else():
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"))
    p = subprocess.run([sys.executable, "-m", "drupgrade.completion", "rollback"], stdout=subprocess.PIPE,
                       universal_newlines=True, env=env)
    assert p.returncode == 0 and p.stdout == completion.script("rollback")
    assert "complete -F _drupgrade_rollback_tool rollback_tool" in p.stdout
    assert subprocess.run([sys.executable, "-m", "drupgrade.completion", "x"], env=env,
                          stderr=subprocess.DEVNULL).returncode == 2
