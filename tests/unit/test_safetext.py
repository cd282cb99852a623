"""Node text on the operator's terminal and in the controller log (L2, L5): no control characters,
no rich markup read from it, and password-looking text masked."""
import io
import logging
import os

import pytest

from drupgrade import engine, log, precheck, safetext
from drupgrade.commands.upgrade import nodes

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.usefixtures("tool_logging")  # log.setup() takes the logger over
HOSTILE = "2.2.0[/bold]\x1b[31mRED\x1b]0;owned\x07\x9b2J\rX\x00"


def test_clean_strips_c0_and_c1_but_keeps_lines_and_tabs():
    assert safetext.clean(HOSTILE) == "2.2.0[/bold][31mRED]0;owned2JX"
    assert safetext.clean("a\tb\nc\r\n") == "a\tb\nc\n"
    assert safetext.clean("a\tb\nc", one_line=True) == "a b c"
    assert safetext.clean("中文 ok") == "中文 ok"
    assert safetext.clean(None) is None and safetext.clean(42) == "42"


def _render(renderable):
    from rich.console import Console
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=200).print(renderable)
    return buf.getvalue()


def test_rich_shows_node_text_as_text():
    out = _render(safetext.text(HOSTILE))
    assert "2.2.0[/bold][31mRED]0;owned" in out
    assert "\x1b]0;" not in out and "\x9b" not in out


def test_the_nodes_table_survives_a_hostile_version_file(capsys):
    """Reproduced on c9cddb7: VERSION '2.2.0[/bold]' made `nodes` die with rich's MarkupError."""
    row = {"node": "node2", "address": "10.0.0.2:22", "auth_method": "key", "host_key": "ssh-ed25519 SHA256:x",
           "host_key_state": "recorded", "host_key_offered": None, "latency_ms": 1.0, "scp": True, "sftp": True,
           "roles": ["app"], "version": HOSTILE, "ok": True, "error": None}
    nodes._print_table([row])
    out = capsys.readouterr().out
    assert "2.2.0[/bold][31mRED" in out and "\x1b[31mRED" not in out and "\x07" not in out


def test_a_failure_line_with_escape_sequences_reaches_nobody_raw():
    line = engine.failure_line("step output\nERROR: \x1b[2J\x1b]0;x\x07cannot start drp-db\x9b\n")
    assert line == "ERROR: [2J]0;xcannot start drp-db"


def test_precheck_findings_from_a_node_are_clean():
    f = precheck.Finding("patches", "node1", "warn", {"zh": "补丁\x1b[31m", "en": "patch\x1b[31m"},
                         {"zh": "\x07", "en": "remove\x00 it"}, ["kernel-1\x1b[2J\nx"])
    assert f.message == {"zh": "补丁[31m", "en": "patch[31m"}
    assert f.remediation == {"zh": "", "en": "remove it"} and f.details == ["kernel-1[2J x"]


def test_the_log_handlers_strip_control_characters(tmp_path, capsys):
    path = log.setup(str(tmp_path), console=True)
    logging.getLogger("drupgrade.test").error("node said: %s", "bad\x1b[2J\x1b]0;t\x07 end")
    for h in logging.getLogger("drupgrade").handlers:
        h.flush()
    for out in (open(path, encoding="utf-8").read(), capsys.readouterr().err):
        assert "node said: bad[2J]0;t end" in out and "\x1b" not in out


def test_an_error_message_is_cleaned_and_redacted_on_the_terminal(capsys, monkeypatch):
    from drupgrade import cli
    from drupgrade.errors import DrupgradeError

    class Boom:
        SUMMARY = "x"

        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(ctx):
            raise DrupgradeError("node says \x1b[2Jpassword=S3CRET-x", hint="retry\x07 now")

    monkeypatch.setattr(cli, "discover", lambda tool: {"boom": Boom})
    assert cli.main(["upgrade", "--lang", "en", "boom"]) == 1
    err = capsys.readouterr().err
    assert "node says [2Jpassword=******" in err and "retry now" in err and "S3CRET" not in err


def _fixture():
    with open(os.path.join(TOP, "tests", "fixtures", "redaction.txt"), encoding="utf-8") as f:
        return [ln.rstrip("\n").split("\t", 1) for ln in f if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("kind,line", _fixture())
def test_password_looking_text_is_masked_in_the_log(kind, line):
    masked = log.safe(line)
    if kind == "secret":
        assert "S3CRET" not in masked and log.MASK in masked
    else:
        assert masked == line
