"""upgrade.sh logs STEP [--node N] [--run RUN]: every hop and attempt of a step in run order, from the
controller's copies, and an attempt it has no copy of read from the node (read-only, faked here)."""
import json
import os

import pytest

from drupgrade import cli, i18n, runner
from drupgrade.journal import Journal

INI = """[ssh_config]
username = root
private_key_path = id_none

[node:node1]
host = 10.0.0.1
roles = db_primary, etcd, app

[node:node2]
host = 10.0.0.2
roles = etcd, app

[paths]
state_dir = {state}
"""


class Settings:
    node_run_dir = "/var/lib/drupgrade/runs"


class FakeTransport:
    """The node's side: its run logs by path; every command it was asked to run."""

    def __init__(self, files):
        self.files, self.commands, self.settings = files, [], Settings()

    def run(self, node, command, conn_type="control", stdin=None, timeout=None, retry=True):
        self.commands.append((node.name, list(command), conn_type))
        path = command[-1]

        class Res:
            rc = 0 if path in self.files else 1
            stdout = self.files.get(path, "")
            stderr = "" if path in self.files else "cat: %s: No such file or directory\n" % path
        return Res()

    def close(self):
        pass


@pytest.fixture
def cluster(tmp_path, monkeypatch, tool_logging):
    """A two-hop run: install on node1 ok in hop 1, failed then ok in hop 2; the controller lost its
    copy of hop 2's first attempt, which the node still has in its run log (a chain of two steps)."""
    state = tmp_path / "state"
    ini = tmp_path / "upgrade.ini"
    ini.write_text(INI.format(state=state))
    os.chmod(str(ini), 0o600)
    runs = str(state / "runs")
    j = Journal.create(runs, "run_1", target="2.0.0", hops=[["1.0.0", "1.5.0"], ["1.5.0", "2.0.0"]],
                       versions_before={"node1": "1.0.0", "node2": "1.0.0"})
    j.hop_info("hop1", "1.0.0", "1.5.0")
    j.hop_info("hop2", "1.5.0", "2.0.0")
    for hop, run_key, rc in (("hop1", "k1", 0), ("hop2", "k2", 1), ("hop2", "k3", 0)):
        j.begin(hop, "node1", "install", run_key)
        j.finish(hop, "install", "node1", rc)
    j.begin("hop1", "node2", "install", "k4")
    j.finish("hop1", "install", "node2", 0)
    Journal.create(runs, "run_0", target="1.5.0", hops=[["1.0.0", "1.5.0"]])
    with open(str(state / "current_run.json"), "w") as f:
        json.dump({"run_id": "run_1", "journal": j.path}, f)
    logs = state / "logs" / "run_1"
    (logs / "node1").mkdir(parents=True)
    (logs / "node2").mkdir(parents=True)
    (logs / "node1" / "install.log").write_text("installed 1.5.0\n")
    (logs / "node1" / "install.hop2.log").write_text("installed 2.0.0\n")
    (logs / "node2" / "install.log").write_text("node2 installed 1.5.0\n")
    mark = "@@DRUPGRADE@@ " + j.nonce("k2")
    chain = "".join(["%s begin config 1.0\n" % mark, "config output\n", "%s end config 0 1.5\n" % mark,
                     "%s begin install 2.0\n" % mark, "ERROR: disk full\n", "%s end install 1 2.5\n" % mark])
    fake = FakeTransport({"/var/lib/drupgrade/runs/k2/log": chain})
    monkeypatch.setattr(runner.Runner, "transport", lambda self: fake)
    return {"ini": str(ini), "fake": fake, "logs": str(logs)}


def main(cluster, *args):
    i18n.set_lang("en")
    return cli.main(["upgrade", "--config", cluster["ini"]] + list(args))


def test_every_hop_and_attempt_in_run_order_with_a_header_each(cluster, capsys):
    assert main(cluster, "logs", "install", "--node", "node1") == 0
    out = capsys.readouterr().out
    headers = [ln for ln in out.splitlines() if ln.startswith("==== ")]
    assert headers == [
        "==== install on node1, hop1 (1.0.0 -> 1.5.0), attempt 1: ok; %s/node1/install.log" % cluster["logs"],
        "==== install on node1, hop2 (1.5.0 -> 2.0.0), attempt 1: failed; node1:/var/lib/drupgrade/runs/k2/log "
        "(read from the node)",
        "==== install on node1, hop2 (1.5.0 -> 2.0.0), attempt 2: ok; %s/node1/install.hop2.log" % cluster["logs"]]
    body = out.split(headers[1])[1].split(headers[2])[0]
    assert body == "\nERROR: disk full\n"  # the step's own part of the node's run log
    assert "installed 1.5.0\n" in out and "installed 2.0.0\n" in out and "config output" not in out
    # read-only on the node: one cat of that run's log, over the read-only connection
    assert cluster["fake"].commands == [("node1", ["cat", "--", "/var/lib/drupgrade/runs/k2/log"], "status")]


def test_every_node_without_node_and_json_gives_the_same(cluster, capsys):
    assert main(cluster, "logs", "install", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run_id"] == "run_1" and data["step"] == "install"
    assert [(a["node"], a["hop"], a["attempt"], a["result"], a["source"]) for a in data["attempts"]] == [
        ("node1", "hop1", 1, "ok", "controller"), ("node1", "hop2", 1, "failed", "node"),
        ("node1", "hop2", 2, "ok", "controller"), ("node2", "hop1", 1, "ok", "controller")]
    assert data["attempts"][1]["log"] == "ERROR: disk full\n"


def test_an_attempt_neither_side_has_says_why(cluster, capsys):
    cluster["fake"].files.clear()
    assert main(cluster, "logs", "install", "--node", "node1") == 0
    out = capsys.readouterr().out
    assert "attempt 1: failed; no log: not on the controller, and node1:/var/lib/drupgrade/runs/k2/log cannot " \
           "be read: cat: /var/lib/drupgrade/runs/k2/log: No such file or directory" in out


@pytest.mark.parametrize("args, en, zh", [
    (["logs", "instal"], "unknown step instal", "未知的步骤 instal"),
    (["logs", "install", "--node", "node9"], "unknown node node9", "未知的节点 node9"),
    (["logs", "install", "--run", "run_9"], "unknown run run_9", "未知的运行 run_9"),
    (["logs", "install", "--run", "../run_1"], "unknown run ../run_1", "未知的运行 ../run_1"),
    (["logs", "db_migrate", "--node", "node2"], "step db_migrate has no attempt in run run_1 on node node2",
     "步骤 db_migrate 在运行 run_1 中没有执行记录（节点 node2）"),
])
def test_unknown_step_node_or_run_is_exit_2_with_a_hint(cluster, capsys, args, en, zh):
    assert main(cluster, *args) == 2
    err = capsys.readouterr().err
    assert en in err and "what to do: " in err
    assert cli.main(["upgrade", "--config", cluster["ini"], "--lang", "zh"] + args) == 2
    err = capsys.readouterr().err
    assert zh in err and "处理建议" in err
    assert cluster["fake"].commands == []


def test_the_run_named_and_a_run_without_that_step(cluster, capsys):
    assert main(cluster, "logs", "install", "--run", "run_0") == 2
    assert "step install has no attempt in run run_0" in capsys.readouterr().err
