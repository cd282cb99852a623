"""Secrets are masked at the handlers, whatever path they take into a record."""
import logging

import pytest

from drupgrade import log

pytestmark = pytest.mark.usefixtures("tool_logging")  # log.setup() takes the logger over


def test_secret_is_masked_in_file_and_console(tmp_path, capsys):
    log.add_secrets(["hunter2", "hunter2-long"])
    path = log.setup(str(tmp_path), console=True)
    logger = logging.getLogger("drupgrade.test")
    logger.info("password is %s, or %s", "hunter2", "hunter2-long")
    try:
        raise ValueError("bad hunter2")
    except ValueError:
        logger.exception("failed with hunter2")
    for h in logging.getLogger("drupgrade").handlers:
        h.flush()
    text = open(path, encoding="utf-8").read()
    err = capsys.readouterr().err
    for out in (text, err):
        assert "hunter2" not in out
        assert "password is ******, or ******" in out
        assert "ValueError: bad ******" in out


def test_log_file_is_private(tmp_path):
    import os
    import stat
    path = log.setup(str(tmp_path), console=False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_on_a_terminal_the_lines_of_the_run_print_above_the_live_display():
    """The console handler writes to sys.stderr as it is at each record: the live display
    (drupgrade.view) takes it over while it draws, so a line of the run (the step progress every
    10 s) is printed above it instead of through it."""
    import io

    from rich.console import Console
    from rich.text import Text

    from drupgrade import view

    class Panel:
        def render(self, _width):
            return Text("THE PANEL")

        def summary(self):
            return []
    screen = io.StringIO()
    log.setup(None, console=True)
    with view.Display(Console(file=screen, force_terminal=True, width=100), Panel()):
        logging.getLogger("drupgrade.run").info("[progress] 35% (7/20 steps done)")
    assert "[INFO] [progress] 35% (7/20 steps done)" in screen.getvalue()


def test_the_controller_log_is_rotated_and_bounded(tmp_path, monkeypatch):
    """Every command appends to controller.log: it rolls over at LOG_MAX_BYTES and keeps LOG_KEEP
    older files (issue 19's soak), owner-only like the first."""
    monkeypatch.setattr(log, "LOG_MAX_BYTES", 2000)
    for _command in range(3):  # three commands, each its own setup()
        path = log.setup(str(tmp_path), console=False)
        for i in range(40):
            logging.getLogger("drupgrade.test").info("line %03d %s", i, "x" * 60)
    for h in logging.getLogger("drupgrade").handlers:
        h.flush()
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs == ["controller.log", "controller.log.1", "controller.log.2"]
    for name in logs:
        assert (tmp_path / "logs" / name).stat().st_size <= 2000
        assert (tmp_path / "logs" / name).stat().st_mode & 0o077 == 0
    assert "line 039" in open(path, encoding="utf-8").read()
