"""The live display (drupgrade.view) fed with synthetic journal events on a recording terminal of 80
and 160 columns: every phase shows, transfer bars come and go, zh lines keep to the width, the
summary stays, and the log lines go above the display."""
import io
import logging
import re
import sys
import time

import pytest
from rich.cells import cell_len
from rich.console import Console

from drupgrade import i18n, log, rollback, view
from drupgrade.journal import Journal
from drupgrade.steps import once_per_run, phase_names
from drupgrade.transport.progress import Reporter, TransferProgress

NODES = ("node1", "node2", "node3")


class Step:
    def __init__(self, name, phase, local=False):
        self.name, self.phase, self.local = name, phase, local


class Node:
    def __init__(self, name):
        self.name = name


STEPS = [Step("load_packages", "init", local=True), Step("upload_tool", "distribute_tool"),
         Step("precheck", "precheck", local=True), Step("upload_package", "distribute_package"),
         Step("backup_db", "backup"), Step("install", "upgrade"), Step("check_services", "postcheck")]


class Up:
    """What the panel asks of the engine: its steps and the nodes each runs on."""
    steps = STEPS

    def nodes_for(self, step, hop):
        return [Node("controller")] if step.local else [Node(n) for n in NODES]


@pytest.fixture(autouse=True)
def english_and_logging(tool_logging):
    i18n.set_lang("en")
    yield
    i18n.set_lang("en")


def journal(tmp_path):
    return Journal.create(str(tmp_path), "run_20261202_120000", target="2.2.0", hops=[["2.0.0", "2.1.0"],
                                                                                      ["2.1.0", "2.2.0"]],
                          versions_before={n: "2.0.0" for n in NODES})


def screen(width):
    return Console(record=True, width=width, force_terminal=True, file=io.StringIO(), color_system=None)


def frame(panel, width):
    """One frame of the panel as the terminal shows it: its lines."""
    console = screen(width)
    console.print(panel.render(width))
    return console.export_text().splitlines()


def fits(lines, width):
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, too_wide


@pytest.mark.parametrize("width", [80, 160])
def test_every_phase_shows_in_the_table_as_its_steps_run_and_every_row_fits(tmp_path, width):
    j = journal(tmp_path)
    panel = view.RunPanel(Up(), j, remaining=lambda: 95, after=lambda: {n: "2.2.0" for n in NODES})
    seen = set()
    try:
        for step in STEPS:
            hops = ["run"] if once_per_run(step.phase) else ["hop1", "hop2"]
            for hop in hops:
                for node in Up().nodes_for(step, hop):
                    j.begin(hop, node, step)
                lines = frame(panel, width)
                fits(lines, width)
                header = [i for i, line in enumerate(lines) if line.split()[:2] == ["node", "phase"]]
                assert len(header) == 1, lines  # one table: no frame stacked on another
                rows = [line for line in lines if line.split() and line.split()[0] in NODES + ("controller",)]
                assert len(rows) == 4, lines  # a row per node, never wrapped onto a second line
                running = [line for line in rows if "▶ " + step.name in line]
                assert running and all(step.phase in line for line in running), lines
                seen.add(step.phase)
                for node in Up().nodes_for(step, hop):
                    j.finish(hop, step, node, 0)
        assert seen == set(phase_names())
        rows = [line.split() for line in frame(panel, width) if line.startswith(NODES + ("controller",))]
        assert len(rows) == 4 and all(re.match(r"^(\d+)/\1$", row[-1]) for row in rows), rows  # all done
    finally:
        panel.close()


def test_the_header_names_the_phase_the_hop_and_the_estimated_completion(tmp_path):
    j = journal(tmp_path)
    panel = view.RunPanel(Up(), j, remaining=lambda: 95)
    try:
        j.begin("hop2", Node("node2"), STEPS[5])
        j.note("hop2", STEPS[5], Node("node2"), warnings=2)
        time.sleep(0.1)  # the estimate is read by the panel's own thread
        text = "\n".join(frame(panel, 160))
        assert "upgrade run run_20261202_120000: 2.0.0 -> 2.1.0 -> 2.2.0" in text
        assert "phase 6/7: upgrade (hop 2/2)" in text
        assert "estimated completion" in text and "(1 min 35 s left)" in text
        row = [line for line in text.splitlines() if line.startswith("node2")][0]
        assert "▶ install" in row and row.rstrip().endswith("2")  # its warnings
    finally:
        panel.close()


def test_transfer_bars_are_inside_the_display_while_they_run_and_gone_after(tmp_path):
    j = journal(tmp_path)
    console = screen(80)
    panel = view.RunPanel(Up(), j)
    d = view.Display(console, panel)
    reporter = Reporter(view.current)
    with d:
        transfers = [TransferProgress(n, "/var/lib/drupgrade/packages/drp-2.2.0.tar.gz", 1 << 20, "scp")
                     for n in NODES]
        for p in transfers:
            p.advance_to(300 * 1024)
            reporter.update(p)
        lines = [line for line in d_frame(d, 80) if "drp-2.2.0.tar.gz" in line]
        assert sorted(line.split()[0] for line in lines) == list(NODES)  # one bar per node and file
        fits(lines, 80)
        transfers[0].finish("done")
        reporter.update(transfers[0])
        transfers[1].finish("failed")  # a failed transfer ends without a last update: its bar goes too
        lines = [line for line in d_frame(d, 80) if "drp-2.2.0.tar.gz" in line]
        assert [line.split()[0] for line in lines] == ["node3"]
        transfers[2].finish("done")
        reporter.update(transfers[2])
        assert not [line for line in d_frame(d, 80) if "drp-2.2.0.tar.gz" in line]
    assert view.current() is None


def d_frame(display, width):
    console = screen(width)
    console.print(display)
    return console.export_text().splitlines()


def test_without_a_display_transfers_log_plain_lines(caplog):
    reporter = Reporter(view.current)
    p = TransferProgress("node1", "/x/drp-2.2.0.tar.gz", 1000, "scp")
    p.advance_to(500)
    with caplog.at_level(logging.INFO, logger="drupgrade.transport"):
        reporter.update(p)
    assert "node1: drp-2.2.0.tar.gz 50%" in caplog.text


def test_zh_lines_keep_to_80_columns_by_their_cells(tmp_path):
    i18n.set_lang("zh")
    j = journal(tmp_path)
    panel = view.RunPanel(Up(), j, remaining=lambda: 3600)
    try:
        j.begin("hop1", Node("node1"), STEPS[4])
        j.finish("run", STEPS[0], Node("controller"), 0)
        lines = frame(panel, 80)
        assert any("阶段" in line for line in lines), lines  # the table's Chinese headers
        fits(lines, 80)
        summary = screen(80)
        for part in view.summary_parts(j, {}, kind="run"):
            summary.print(part)
        text = summary.export_text()
        fits(text.splitlines(), 80)
        assert "2.0.0 -> ?" in text and "中断" in text
        j.data["status"] = "rolled_back"
        title = view.summary_parts(j, {}, kind="run")[0].plain
        assert title.endswith("已回滚") and "rolled" not in title, title  # the status word in zh too
    finally:
        panel.close()
        i18n.set_lang("en")


def test_the_log_lines_go_above_the_display_and_the_summary_stays(tmp_path):
    j = journal(tmp_path)
    console = Console(record=True, width=80, force_terminal=True, file=io.StringIO(), color_system=None)
    log.setup(None, console=True)
    streams = (sys.stdout, sys.stderr)
    panel = view.RunPanel(Up(), j, after=lambda: {"node1": "2.2.0", "node2": "2.2.0", "node3": "2.0.0"})
    with view.Display(console, panel):
        assert (sys.stdout, sys.stderr) != streams
        j.begin("run", Node("node1"), STEPS[1])
        logging.getLogger("drupgrade.run").info("[distribute_tool] a line of the run that is longer than the "
                                                "eighty columns of this terminal, kept whole")
        j.finish("run", STEPS[1], Node("node1"), 0)
        j.begin("hop1", Node("node2"), STEPS[5])
        j.finish("hop1", STEPS[5], Node("node2"), 1)
        j.set(status="failed")
    assert (sys.stdout, sys.stderr) == streams
    text = console.export_text()
    # the line as one line (the terminal wraps it, a copy stays whole)
    assert "[INFO] [distribute_tool] a line of the run that is longer than the eighty columns of this " \
           "terminal, kept whole" in text
    end = text[text.index("upgrade run run_20261202_120000: failed"):]
    assert "2.0.0 -> 2.2.0" in end and "failed at install" in end and "not touched" in end
    assert "next: what to do is said above" in end


def test_a_question_pauses_the_display_and_it_goes_on_after(tmp_path):
    j = journal(tmp_path)
    console = screen(80)
    streams = (sys.stdout, sys.stderr)
    with view.Display(console, view.RunPanel(Up(), j)) as d:
        with view.paused():
            assert (sys.stdout, sys.stderr) == streams and d.live is None
        assert d.live is not None and sys.stderr is not streams[1]
    with view.paused():  # no display: nothing to do
        pass


@pytest.mark.parametrize("width,lang", [(80, "zh"), (160, "en")])
def test_the_rollback_box_is_the_display_of_rollback_tool_and_fits(width, lang):
    i18n.set_lang(lang)
    states = {n: "running" if n in (2, 3, 4) else "done" if n == 1 else "pending" for n in rollback.numbers()}
    lines = rollback.box_lines(rollback.label(1) * 2, states, "2026-12-02 12:00:00", 0,
                               {n: 10 for n in states}, {}, max_width=width)
    fits(lines, width)
    assert len({cell_len(line) for line in lines}) == 1  # a closed box: every line as wide
    i18n.set_lang("en")
