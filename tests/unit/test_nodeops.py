"""drupgrade.nodeops: what the engine's hands send to a node (run here through the real drstep), the
env files it writes there, and the controller's own steps."""
import json
import os
import subprocess

import pytest
from test_rollback import manifest

from drupgrade import i18n, nodeops, state
from drupgrade import manifest as manifests
from drupgrade.errors import DrupgradeError
from drupgrade.journal import Journal
from drupgrade.steps import Step
from drupgrade.transport.result import CommandResult

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HELLO = """#!/usr/bin/env bash
# Summary: says hello
# Summary-zh: 打招呼
# Timeout: 30
# Retry: direct
# Roles: any
source "${DRSTEP_LIB:?}/step.sh"
step::check() { msg "检查：你好" "check: hello" >&2; return 1; }
step::run() { msg "你好" "hello"; echo; }
step::main "$@"
"""


class Node:
    name = "n1"
    roles = ["app"]


class Settings:
    def __init__(self, run_dir):
        self.node_run_dir = run_dir


class Transport:
    """Runs the node's command here (bash -c of the quoted line): the node is this machine."""

    def __init__(self, run_dir, env):
        self.settings = Settings(run_dir)
        self.env = env
        self.sent = []

    def run(self, node, command, stdin=None, **_kw):
        from drupgrade.transport.quoting import command_line
        from drupgrade.transport.result import CommandResult
        line = command_line(command)
        self.sent.append(line)
        p = subprocess.run(["bash", "-c", line], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env)
        return CommandResult(node.name, line, p.returncode, p.stdout.decode(), p.stderr.decode())


class Cfg:
    paths = {"node_tool_dir": os.path.join(TOP, "scripts"), "node_package_dir": "/var/lib/drupgrade/packages",
             "node_backup_dir": "/backup", "state_dir": "/nonexistent"}
    run = {"max_parallel": 4, "fault_injection": "off"}


class RunJournal:
    data = {"run_id": "run1", "hops": [["1.0.0", "2.0.0"], ["2.0.0", "2.2.0"]]}


@pytest.fixture
def node_env(tmp_path):
    """A node's environment: the steps of tmp_path, the context of run1's hop1, an English locale of
    its own."""
    (tmp_path / "steps" / "5-backup").mkdir(parents=True)
    path = tmp_path / "steps" / "5-backup" / "10-hello.sh"
    path.write_text(HELLO)
    os.chmod(str(path), 0o755)
    (tmp_path / "context.env").write_text("DR_RUN_ID=run1\nDR_HOP=hop1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DRUPGRADE_LANG", "LC_ALL", "LC_MESSAGES")}
    env.update(LANG="C", DRSTEP_STEPS_DIR=str(tmp_path / "steps"), DRSTEP_CONTEXT=str(tmp_path / "context.env"),
               DRSTEP_LIB=os.path.join(TOP, "scripts", "lib"))
    yield env, str(path)
    i18n.set_lang("en")


def run_ops(env, tmp_path, t=None):
    """NodeOps of run1 whose command wrote node n1's context of hop1 (as hop1's upload_package does)."""
    ops = nodeops.NodeOps(Cfg(), t or Transport(str(tmp_path / "runs"), env), RunJournal(), TOP, None)
    ops.contexts["n1"] = "hop1"
    return ops


def chain(ops, env, tmp_path, hop="hop1"):
    """The chain script start() hands the node, run there: (exit code, output)."""
    step = Step(env["DRSTEP_STEPS_DIR"] + "/5-backup/10-hello.sh", 10, "hello", {"Timeout": "30"}, "backup")
    ops.start(Node(), [step], "run1-hello", hop, None)
    script = ops.pending[("n1", "run1-hello")]  # what the detached run executes on the node
    run_dir = tmp_path / "runs" / "run1-hello"
    run_dir.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=dict(env, DRUPGRADE_RUN_DIR=str(run_dir)))
    return p.returncode, p.stdout


@pytest.mark.parametrize("lang, said", [("zh", "你好"), ("en", "hello")])
def test_a_step_chain_speaks_the_operators_language_not_the_nodes(node_env, tmp_path, lang, said):
    env, _path = node_env
    i18n.set_lang(lang)
    rc, out = chain(run_ops(env, tmp_path), env, tmp_path)
    assert rc == 0, out
    assert said in out.splitlines(), out


def test_check_and_cleanup_speak_the_operators_language(node_env, tmp_path):
    env, path = node_env
    i18n.set_lang("zh")
    t = Transport(str(tmp_path / "runs"), env)
    step = Step(path, 10, "hello", {"Timeout": "30", "Retry": "direct"}, "backup")
    assert run_ops(env, tmp_path, t).check(Node(), step, "hop1") is False
    assert "DRUPGRADE_LANG=zh" in t.sent[-1]


def test_a_step_never_runs_on_another_hops_context_or_on_none(node_env, tmp_path):
    """Chaos trial 19.49: the automatic rollback unpacked the tool again (no context.env), then a
    retry's steps bound no component and 'succeeded' doing nothing. drstep refuses both cases."""
    env, _path = node_env
    ops = run_ops(env, tmp_path)
    ops.contexts["n1"] = "hop2"  # the command believes it wrote hop2's context: the node has hop1's
    rc, out = chain(ops, env, tmp_path, "hop2")
    assert rc == 2 and "hello" not in out.splitlines(), out
    assert "this node's run context is for run1/hop1, the controller asked for run1/hop2: the step was not run" in out
    os.unlink(env["DRSTEP_CONTEXT"])
    rc, out = chain(run_ops(env, tmp_path), env, tmp_path)
    assert rc == 2 and "hello" not in out.splitlines(), out
    assert "this node has no run context %s" % env["DRSTEP_CONTEXT"] in out and "bin/upgrade.sh retry" in out
    step = Step(_path, 10, "hello", {"Timeout": "30"}, "backup")
    assert run_ops(env, tmp_path).check(Node(), step, "hop1") is False  # by hand as well: refused, so not done


def test_a_command_writes_the_hops_context_before_its_first_step_there(node_env, tmp_path, monkeypatch):
    """A resume or retry (a new command) writes each node's context of the hop before any check,
    cleanup or run of a step there; then once, not per step. A rollback's steps are left to rollback.env."""
    env, path = node_env
    written = []

    def write_context(self, node, hop, versions):
        written.append((node.name, hop, versions))
        (tmp_path / "context.env").write_text("DR_RUN_ID=run1\nDR_HOP=%s\n" % hop)
        self.contexts[node.name] = hop
    monkeypatch.setattr(nodeops.NodeOps, "write_context", write_context)
    t = Transport(str(tmp_path / "runs"), env)
    ops = nodeops.NodeOps(Cfg(), t, RunJournal(), TOP, None)
    step = Step(path, 10, "hello", {"Timeout": "30"}, "backup")
    assert ops.check(Node(), step, "hop2") is False
    assert "DRSTEP_HOP=run1/hop2" in t.sent[-1]
    rc, out = chain(ops, env, tmp_path, "hop2")
    assert rc == 0 and "hello" in out.splitlines(), out
    assert written == [("n1", "hop2", ("2.0.0", "2.2.0"))]
    assert ops.hop_context(Node(), "rollback") == [] and len(written) == 1


def test_an_env_file_is_written_whole_and_read_back_by_drstep(node_env, tmp_path):
    env, _path = node_env
    t = Transport(str(tmp_path / "runs"), env)
    target = str(tmp_path / "tool" / "context.env")
    nodeops.write_env(t, Node(), target, {"DR_NODE": "n1", "DR_ROLES": "db_primary,app", "DR_EMPTY": ""})
    with open(target) as f:
        assert f.read() == "DR_EMPTY=\nDR_NODE=n1\nDR_ROLES=db_primary,app\n"
    assert os.listdir(str(tmp_path / "tool")) == ["context.env"]  # written through a temporary file, renamed
    p = subprocess.run(["bash", "-c", 'source "$1/lib/common.sh"; source <(sed -n "/^drstep::load_context()/,/^}/p" '
                        '"$1/bin/drstep"); CONTEXT=$2; drstep::load_context; echo "$DR_ROLES"', "t",
                        os.path.join(TOP, "scripts"), target], stdout=subprocess.PIPE, universal_newlines=True)
    assert p.stdout == "db_primary,app\n"


@pytest.mark.parametrize("values", [
    {"DR_NODE": "n1\nDR_BACKUP_ROOT=/"},  # a newline would forge a key of its own
    {"DR_NODE": "n1\r"},
    {"PATH": "/tmp/evil"},  # drstep loads DR_* only: anything else is a mistake
    {"dr_node": "n1"},
])
def test_an_env_file_refuses_a_forged_line_or_a_foreign_key_before_touching_the_node(node_env, tmp_path, values):
    env, _path = node_env
    t = Transport(str(tmp_path / "runs"), env)
    with pytest.raises(DrupgradeError) as exc:
        nodeops.write_env(t, Node(), str(tmp_path / "context.env"), values)
    assert sorted(values)[0] in exc.value.message and t.sent == []


def test_a_failed_write_names_the_file_and_the_node(node_env, tmp_path):
    env, _path = node_env
    (tmp_path / "file").write_text("")
    with pytest.raises(DrupgradeError) as exc:
        nodeops.write_env(Transport(str(tmp_path / "runs"), env), Node(), str(tmp_path / "file" / "context.env"),
                          {"DR_NODE": "n1"})
    assert "cannot write %s on node n1" % (tmp_path / "file" / "context.env") in exc.value.message


# -- the controller's own steps: collect_manifest ---------------------------------------------
class ManifestTransport:
    """What collect_manifest and read_remote ask of the transport: one command, one answer."""

    def __init__(self, stdout, rc=0):
        self.stdout, self.rc, self.commands = stdout, rc, []

    def run(self, node, command, timeout=None, **_kw):
        self.commands.append(command)
        return CommandResult(node.name, command, self.rc, self.stdout, "")


class Node1:
    name = "node1"
    roles = ["app"]


class ManifestCfg:
    def __init__(self, d):
        self.paths = {"node_tool_dir": "/opt/drupgrade", "node_backup_dir": "/backup", "state_dir": d}


def _collect(d, text):
    backup_id = "backup_20261128_100001"
    journal = Journal.create(os.path.join(d, "runs"), "run_1", hop_info={"hop1": {"backup_id": backup_id}})
    t = ManifestTransport(text)
    ops = nodeops.NodeOps(ManifestCfg(d), t, journal, d, lambda *a: None)
    return ops, t, backup_id


@pytest.mark.parametrize("text", ['["not", "an", "object"]', '"completed"', "{", "",
                                  json.dumps(manifest("backup_20261128_100001", "1.0.0", "2.2.0", "running")),
                                  " " * (manifests.MAX_BYTES + 1)])
def test_collect_manifest_refuses_what_is_not_a_usable_manifest(tmp_path, text):
    ops, t, backup_id = _collect(str(tmp_path), text)
    with pytest.raises(DrupgradeError) as e:
        ops.step_collect_manifest(Node1(), "hop1", None)
    assert "backup_manifest.json on node node1 is missing or invalid: " in e.value.message
    assert t.commands == [["head", "-c", str(manifests.MAX_BYTES + 1), "--",
                           "/backup/%s/backup_manifest.json" % backup_id]]
    assert not os.path.exists(os.path.join(str(tmp_path), "backups", backup_id))


def test_collect_manifest_stores_a_good_one(tmp_path):
    d = str(tmp_path)
    ops, _t, backup_id = _collect(d, json.dumps(manifest("backup_20261128_100001", "1.0.0", "2.2.0")))
    assert ops.step_collect_manifest(Node1(), "hop1", None) == 0
    stored = state.read_json(os.path.join(d, "backups", backup_id, "node1.json"))
    assert stored == manifest(backup_id, "1.0.0", "2.2.0")


# -- the controller's own steps: the package's distribution (drupgrade.transport.relay) ----------------
class DistNode:
    def __init__(self, name):
        self.name, self.host, self.roles = name, "10.0.0.%d" % (10 + int(name[-1])), ["app"]


class DistCfg:
    def __init__(self, nodes, mode):
        self.nodes = nodes
        self.transfer = {"distribution": mode}
        self.run = {"max_parallel": 8}
        self.paths = {"node_tool_dir": "/opt/drupgrade"}


class DirectTransfer:
    def __init__(self):
        self.uploads = []

    def upload_package(self, path, remote, node):
        self.uploads.append(node.name)
        return "direct " + node.name


class DistTransport:
    def __init__(self):
        self.transfer = DirectTransfer()


def _distribution(tmp_path, monkeypatch, mode, count, fail=()):
    from drupgrade.transport import relay
    made = []

    class Distribution:
        def __init__(self, t, path, remote, nodes, run_id, width):
            self.nodes, self.run_id = nodes, run_id
            self.pending = {n.name for n in nodes}
            self.results = {}
            made.append(self)

        def run(self):
            self.results = {n.name: (TransferFailedLike(n.name) if n.name in fail else "relayed " + n.name)
                            for n in self.nodes}

    monkeypatch.setattr(relay, "Distribution", Distribution)
    nodes = [DistNode("node%d" % i) for i in range(1, count + 1)]
    journal = Journal.create(str(tmp_path / "runs"), "run_1", hops=[["1.0.0", "2.2.0"]])
    pkg = tmp_path / "drp-2.2.0.tar.gz"
    pkg.write_bytes(b"x" * 100)
    t = DistTransport()
    ops = nodeops.NodeOps(DistCfg(nodes, mode), t, journal, str(tmp_path), lambda *a: None)
    return ops, t, nodes, made, str(pkg)


class TransferFailedLike(DrupgradeError):
    def __init__(self, node):
        super().__init__("lost connection to " + node)


def test_the_upload_steps_of_all_nodes_share_one_relay_distribution(tmp_path, monkeypatch):
    import concurrent.futures
    ops, t, nodes, made, pkg = _distribution(tmp_path, monkeypatch, "relay", 3, fail=["node3"])
    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # the engine runs the nodes' steps side by side
        futures = {n.name: pool.submit(ops.distribute, pkg, "/var/lib/drupgrade/packages", n, "hop1") for n in nodes}
    assert len(made) == 1 and [n.name for n in made[0].nodes] == ["node1", "node2", "node3"]
    assert made[0].run_id == "run_1" and t.transfer.uploads == []
    assert futures["node1"].result() == "relayed node1" and futures["node2"].result() == "relayed node2"
    with pytest.raises(TransferFailedLike):
        futures["node3"].result()  # the node's own failure, raised by its step
    for n in nodes[:2]:  # what the engine journals for the nodes that got it
        ops.journal.begin("hop1", n, "upload_package", local=True)
        ops.journal.finish("hop1", "upload_package", n, 0)
    # its retry: a distribution of its own, for the node left (one node: never a relay)
    assert ops.distribute(pkg, "/var/lib/drupgrade/packages", nodes[2], "hop1") == "direct node3"


def test_a_retry_with_nodes_left_starts_a_new_distribution_for_them_only(tmp_path, monkeypatch):
    ops, t, nodes, made, pkg = _distribution(tmp_path, monkeypatch, "relay", 4)
    for n in (nodes[1], nodes[3]):
        ops.journal.begin("hop1", n, "upload_package", local=True)
        ops.journal.finish("hop1", "upload_package", n, 0)
    ops.distribute(pkg, "/p", nodes[0], "hop1")  # e.g. `retry` of node1 and node3 after the others were done
    assert [n.name for n in made[0].nodes] == ["node1", "node3"]


@pytest.mark.parametrize("mode, count", [("direct", 3), ("relay", 1), ("auto", 3)])  # auto: a small file
def test_direct_upload_without_a_relay(tmp_path, monkeypatch, mode, count):
    ops, t, nodes, made, pkg = _distribution(tmp_path, monkeypatch, mode, count)
    assert [ops.distribute(pkg, "/p", n, "hop1") for n in nodes] == ["direct " + n.name for n in nodes]
    assert made == []
