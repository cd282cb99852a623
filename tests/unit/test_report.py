"""The run report (drupgrade/report.py, report_html.py, commands/upgrade/report.py) of a run recorded
as the controller records one: the journal written through journal.Journal (begin, finish, note,
mark_retry, hop_info, record), the steps' logs, a timeout's context, the precheck report with its
answers, the controller log's warnings and a rollback session in the history; and the page opened
in headless Chromium (DOM and screenshot)."""
import html
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import jsonschema
import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))
from drupgrade import cli, i18n, journal, report, runner, state  # noqa: E402

RUN = "run_20261202_100000"
ROLLBACK_ID = "rollback_20261202_103000"
HOSTILE = '<script src="http://evil.example/x.js">alert(1)</script> & <img src=x onerror=alert(2)>'
INI = """[ssh_config]
username = root
private_key_path = id_none

[node:node1]
host = 127.0.0.1
roles = db_primary, etcd, kmc, app

[node:node2]
host = 127.0.0.2
roles = db_replica, etcd, kmc, app

[node:node3]
host = 127.0.0.3
roles = etcd, app

[paths]
state_dir = {state}
"""
NODES = ("node1", "node2", "node3")


@pytest.fixture(autouse=True)
def restore_logging(tool_logging):
    """cli.main and Context.config set the drupgrade logger up (propagate off): put it back."""
    yield
    i18n.set_lang("en")


class Clock:
    """The journal's clock: 7 s further at every reading, from 10:00:00 UTC."""

    def __init__(self):
        self.t = 1796205600  # 2026-12-02T10:00:00Z

    def __call__(self):
        self.t += 7
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t))


def attempt(j, hop, step, node, rc, local=False, **fields):
    j.begin(hop, node, step, local=local)
    return j.finish(hop, step, node, rc, **fields)


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """One jump 2.1.0 -> 2.2.0 on three nodes, with a retry, a timeout, a lost attempt (a kill -9 and
    resume), a failed attempt whose log holds markup, the precheck's question answered from a file,
    a warning, and a completed rollback of the run."""
    monkeypatch.setattr(state, "now_iso", Clock())
    st = tmp_path / "state"
    ini = tmp_path / "upgrade.ini"
    ini.write_text(INI.format(state=st))
    os.chmod(str(ini), 0o600)
    runs = st / "runs"
    j = journal.Journal.create(str(runs), RUN, target="2.2.0", hops=[["2.1.0", "2.2.0"]], upgrade_mode="jump_upgrade",
                               versions_before={n: "2.1.0" for n in NODES}, started=state.now_iso(), product="drp")
    for step in ("load_packages", "load_nodes", "upload_tool", "precheck"):
        attempt(j, "run", step, "controller", 0, local=True)
    j.hop_info("hop1", "2.1.0", "2.2.0")
    attempt(j, "hop1", "upload_package", "controller", 0, local=True)
    logs = st / "logs" / RUN
    for n in NODES:
        (logs / n).mkdir(parents=True)
    # stop_services: node2 timed out once (exit 124, its context saved), then succeeded
    attempt(j, "hop1", "stop_services", "node1", 0)
    j.begin("hop1", "node2", "stop_services")
    j.note("hop1", "stop_services", "node2", reason="timed out after 5s (timeout 4s)")
    j.finish("hop1", "stop_services", "node2", 124)
    (logs / "node2" / "stop_services.timeout-context.txt").write_text("== processes\nsleep 600\n")
    attempt(j, "hop1", "stop_services", "node2", 0)
    attempt(j, "hop1", "stop_services", "node3", 0)
    # backup_db on node1: failed (its log holds markup), then retried by its policy
    j.begin("hop1", "node1", "backup_db")
    j.finish("hop1", "backup_db", "node1", 1)
    j.note("hop1", "backup_db", "node1", reason="exit code 1: " + HOSTILE)
    (logs / "node1" / "backup_db.log").write_text("dumping\n" + HOSTILE + "\n")
    os.replace(str(logs / "node1" / "backup_db.log"), str(logs / "node1" / "backup_db.attempt1.log"))  # the engine
    attempt(j, "hop1", "backup_db", "node1", 0)
    (logs / "node1" / "backup_db.log").write_text("dumping\ndump completed\n")
    # unzip on node3: the controller was killed during it (no end journaled), resume ran it again
    j.begin("hop1", "node3", "unzip")
    j.mark_retry("hop1", ["unzip"], ["node3"])
    attempt(j, "hop1", "unzip", "node3", 0)
    for n in ("node1", "node2"):
        attempt(j, "hop1", "unzip", n, 0)
    for n in NODES:
        attempt(j, "hop1", "check_services", n, 0)
    j.set(status=journal.DONE, ended=state.now_iso())
    # the precheck's report, its question answered from an answers file
    (st / "precheck").mkdir()
    state.atomic_write_json(str(st / "precheck" / "report.json"), {
        "schema": "drupgrade.precheck/1", "created": j.data["started"], "target": "2.2.0", "nodes": list(NODES),
        "checks": [{"id": "patches", "summary": {"en": "patches", "zh": "补丁"}}],
        "findings": [{"id": "patches.node2", "check": "patches", "node": "node2", "severity": "ask", "inhibitor": False,
                      "message": {"en": "patches installed: kb-1", "zh": "已安装补丁: kb-1"}, "remediation": None,
                      "details": []}],
        "questions": [{"id": "patches.confirm", "check": "patches", "nodes": ["node2"],
                       "question": {"en": "continue the upgrade? (Y/N)", "zh": "是否继续升级？(Y/N)"},
                       "answer": True, "answered_by": "answers_file"}],
        "summary": {"pass": 0, "warn": 0, "fail": 0, "ask": 1, "inhibitors": 0, "unanswered": 0}, "exit_code": 0})
    # a warning in the controller log during the run (local time, as log.py writes it)
    t = report.iso_to_local(j.data["started"])
    (st / "logs" / "controller.log").write_text(
        "[%s] [INFO] run %s\n[%s] [WARNING] [backup] node1 backup_db: the operation will time out soon\n" % (
            t, RUN, t))
    # a rollback of the run, completed (rollback_tool auto)
    session = journal.Journal.create(str(st / "rollbacks"), ROLLBACK_ID, backup_id=j.data["hop_info"]["hop1"][
        "backup_id"], mode="auto", to_version="2.1.0", upgrade_run=RUN, steps={}, trigger="rollback_tool")
    for n in range(1, 7):
        session.set_session_step(n, status=journal.DONE, elapsed=3.5)
    state.atomic_write_json(str(st / "rollback_history.json"), {"rollback_history": [{
        "rollback_id": ROLLBACK_ID, "timestamp": j.data["ended"], "backup_used": session.data["backup_id"],
        "from_version": "v2.2.0", "to_version": "v2.1.0", "rollback_type": "auto", "duration": "0m21s",
        "status": "completed", "upgrade_run": RUN, "trigger": "rollback_tool"}], "available_backups": []})
    return {"ini": str(ini), "state": str(st), "journal": j}


def tool(recorded, *args, lang="en"):
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "lib", "python"), LANG="C")
    env.pop("LC_ALL", None)
    return subprocess.run([sys.executable, "-m", "drupgrade", "upgrade", "--config", recorded["ini"], "--lang", lang]
                          + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def document(recorded, *args):
    p = tool(recorded, "--json", "report", *args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def schema():
    with open(os.path.join(TOP, "lib", "python", "drupgrade", "schemas", "report.json"), encoding="utf-8") as f:
        return json.load(f)


def test_the_report_has_every_node_step_and_attempt_of_the_run(recorded):
    doc = document(recorded)
    jsonschema.Draft7Validator(schema()).validate(doc)
    j = journal.Journal.load(recorded["journal"].path)
    assert doc["run_id"] == RUN and doc["outcome"] == "completed" and doc["path"] == ["2.1.0", "2.2.0"]
    assert [(n["name"], n["before"], n["after"], n["result"]) for n in doc["nodes"]] == [
        (n, "2.1.0", "2.2.0", "ok") for n in NODES]
    assert doc["plan"][0]["strategy"] and doc["plan"][0]["backup_id"] == j.data["hop_info"]["hop1"]["backup_id"]
    # every result of the journal, every attempt of each, in the phases' order
    assert sorted((s["hop"], s["step"], s["node"]) for s in doc["steps"]) == sorted(
        (r.hop, r.step, r.node) for r in j.results())
    assert all(len(s["attempts"]) == j.result(s["hop"], s["step"], s["node"]).attempts for s in doc["steps"])
    assert [s["step"] for s in doc["steps"]][:5] == ["load_packages", "load_nodes", "upload_tool", "precheck",
                                                     "upload_package"]
    by_key = {(s["step"], s["node"]): s for s in doc["steps"]}
    assert [a["result"] for a in by_key[("stop_services", "node2")]["attempts"]] == ["timeout", "ok"]
    assert [a["result"] for a in by_key[("backup_db", "node1")]["attempts"]] == ["failed", "ok"]
    assert [a["result"] for a in by_key[("unzip", "node3")]["attempts"]] == ["lost", "ok"]
    first = by_key[("stop_services", "node2")]["attempts"][0]
    assert first["seconds"] == report.seconds_between(first["start"], first["end"]) > 0
    # retries and timeouts with their context
    retried = {(r["step"], r["node"]): r for r in doc["retries"]}
    assert set(retried) == {("stop_services", "node2"), ("backup_db", "node1"), ("unzip", "node3")}
    assert HOSTILE in retried[("backup_db", "node1")]["log_tail"]
    assert retried[("backup_db", "node1")]["log"].endswith("node1/backup_db.attempt1.log")
    [t] = doc["timeouts"]
    declared = [s for s in command_runner(recorded).steps() if s.name == "stop_services"][0].timeout
    assert (t["step"], t["node"], t["attempt"], t["timeout"], t["seconds"]) == (
        "stop_services", "node2", 1, declared, first["seconds"])
    assert "sleep 600" in t["context_text"]
    assert [w["text"] for w in doc["warnings"]] == ["[backup] node1 backup_db: the operation will time out soon"]
    assert doc["precheck"]["report"]["questions"][0]["answer"] is True
    assert [(r["rollback_id"], r["status"], len(r["steps"])) for r in doc["rollbacks"]] == [(ROLLBACK_ID, "completed",
                                                                                            6)]
    assert doc["rollbacks"][0]["steps"][0]["status"] == "done"
    # written beside the journal too
    json_path, html_path = report.files(recorded["state"], RUN)
    assert json.load(open(json_path, encoding="utf-8"))["run_id"] == RUN and os.path.isfile(html_path)


def test_the_page_is_self_contained_and_escapes_what_the_nodes_wrote(recorded, tmp_path):
    out = tmp_path / "page.html"
    p = tool(recorded, "report", "--html", str(out))
    assert p.returncode == 0, p.stderr
    assert "report: %s" % report.files(recorded["state"], RUN)[1] in p.stdout and str(out) in p.stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert HOSTILE not in page and html.escape(HOSTILE, quote=True) in page
    rest = page.replace(html.escape(HOSTILE, quote=True), "")
    assert "<script" not in rest and not re.search(r"\b(src|href)\s*=", rest), "an external reference"
    assert "http://" not in rest and "https://" not in rest and "url(" not in rest and "@import" not in rest
    attempts = sum(len(s["attempts"]) for s in document(recorded)["steps"])
    assert len(re.findall(r'<rect class="bar ', page)) == attempts
    for text in ("node1", "node2", "node3", "backup_db", "stop_services", "v2.1.0", "v2.2.0", ROLLBACK_ID,
                 "patches.confirm", "sleep 600", "the operation will time out soon"):
        assert text in page, text


def test_an_unfinished_run_says_how_to_continue_it(recorded):
    j = recorded["journal"]
    j.set(status=journal.FAILED, ended=None)
    doc = document(recorded)
    assert doc["status"] == "failed" and doc["ended"] is None and doc["duration_s"] is None
    page = open(report.files(recorded["state"], RUN)[1], encoding="utf-8").read()
    assert html.escape("continue it with 'bin/upgrade.sh resume' or 'bin/upgrade.sh retry'") in page


def test_the_report_speaks_the_operators_language(recorded):
    p = tool(recorded, "report", lang="zh")
    assert p.returncode == 0, p.stderr
    page = open(report.files(recorded["state"], RUN)[1], encoding="utf-8").read()
    assert '<html lang="zh-CN">' in page
    for text in ("节点", "升级前版本", "时间线", "回滚", "预检查", "是否继续升级"):
        assert text in page, text
    assert "报告" in p.stdout


def test_an_unknown_run_is_exit_2_in_both_languages(recorded):
    p = tool(recorded, "report", "run_20000101_000000")
    assert p.returncode == 2
    assert "unknown run run_20000101_000000" in p.stderr and RUN in p.stderr
    p = tool(recorded, "report", "run_20000101_000000", lang="zh")
    assert p.returncode == 2 and "未知的运行 run_20000101_000000" in p.stderr


def command_runner(recorded):
    args = cli.build_parser("upgrade").parse_args(["--config", recorded["ini"], "report"])
    return runner.Runner(cli.Context("upgrade", args))


def test_the_end_of_a_rollback_command_writes_the_report_of_the_run_it_rolled_back(recorded):
    r = command_runner(recorded)
    json_path, html_path = report.files(recorded["state"], RUN)
    assert not os.path.exists(json_path)
    assert report.after_command(r, ROLLBACK_ID) == (json_path, html_path)
    assert json.load(open(json_path, encoding="utf-8"))["rollbacks"][0]["rollback_id"] == ROLLBACK_ID
    assert report.after_command(r, "rollback_20000101_000000") is None  # no such session: nothing to write


def test_a_report_that_cannot_be_built_is_a_warning_naming_the_run_dir(recorded, caplog, monkeypatch):
    r = command_runner(recorded)
    monkeypatch.setattr(report, "build", lambda *a, **k: 1 / 0)
    logging.getLogger("drupgrade").propagate = True
    with caplog.at_level(logging.WARNING, logger="drupgrade.report"):
        assert report.after_command(r, RUN) is None
    assert "the run report could not be written to %s" % os.path.join(recorded["state"], "runs", RUN) in caplog.text


# -- headless Chromium: the page as a browser shows it ---------------------------------------------
def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("CI") == "true":
        pytest.fail("chromium is missing: CI installs it (tests/prereqs.sh)")
    if path is None:
        pytest.skip("chromium is not installed (tests/prereqs.sh installs it)")
    return path


def browse(page, *args):
    """Headless Chromium on a local page, no network, a fresh profile; its stdout."""
    profile = tempfile.mkdtemp(prefix="drupgrade-chromium-")
    try:
        p = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--user-data-dir=" + profile] + list(args) + ["file://" + page],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def png_pixels(path):
    """(width, height, set of distinct colours) of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        chunks.setdefault(kind, body)
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, prev, colours = zlib.decompress(idat), width * bpp, bytearray(width * bpp), set()
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:
            colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp * 2))
        prev = line
    return width, height, colours


def test_the_page_in_headless_chromium_shows_every_node_step_and_attempt(recorded, tmp_path):
    browser = chromium()
    assert browser
    page = tmp_path / "report.html"
    assert tool(recorded, "report", "--html", str(page)).returncode == 0
    doc = document(recorded)
    dom = browse(str(page), "--dump-dom")
    assert "<script" not in dom.lower() or html.escape("<script") in dom
    bars = re.findall(r'<rect class="bar (ok|failed|timeout|running|lost)"', dom)
    assert len(bars) == sum(len(s["attempts"]) for s in doc["steps"])
    assert sorted(set(bars)) == ["failed", "lost", "ok", "timeout"]
    for s in doc["steps"]:
        assert "%s · %s" % (s["step"], s["node"]) in dom
    nodes = re.search(r'<section id="nodes">(.*?)</section>', dom, re.S).group(1)
    for n in NODES:
        assert re.search(r"<td>%s</td><td>v2\.1\.0</td><td>v2\.2\.0</td>" % n, nodes)
    shot = tmp_path / "shot.png"
    browse(str(page), "--screenshot=" + str(shot), "--window-size=1280,2000", "--hide-scrollbars")
    width, height, colours = png_pixels(str(shot))
    assert (width, height) == (1280, 2000)
    assert len(colours) >= 8, "the screenshot is blank or nearly so"
    green = [c for c in colours if c[1] > 100 and c[0] < 80 and c[2] < 80]
    assert green, "no bar of a successful attempt is on the screenshot"


def test_a_command_that_claimed_the_nodes_writes_its_runs_report_when_it_ends(recorded, monkeypatch):
    """Runner.close, the end of run, resume, retry, the automatic rollback and every rollback_tool
    session (all claim the node lock first): the report of the run (or of the session's run), also
    when the command ends with an error or Ctrl-C; a read-only command (no claim) writes none."""
    from drupgrade import nodelock

    class Lock:
        def __init__(self, cfg, transport, state_dir, run_id, tool, command, out):
            self.key, self.record = "k", [("run_id", run_id), ("command", tool + " " + command)]

        def claim(self, take_over=False):
            pass

        def release(self):
            pass

    written = []
    monkeypatch.setattr(nodelock, "NodeLock", Lock)
    monkeypatch.setattr(report, "after_command", lambda r, run_id: written.append(run_id))
    with command_runner(recorded):
        pass
    assert written == []
    with pytest.raises(KeyboardInterrupt):
        with command_runner(recorded) as r:
            r.claim_nodes(RUN, "upgrade.sh", "resume")
            raise KeyboardInterrupt
    with command_runner(recorded) as r:
        r.claim_nodes(ROLLBACK_ID, "rollback_tool", "auto latest")
    assert written == [RUN, ROLLBACK_ID]
