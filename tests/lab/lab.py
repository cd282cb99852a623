"""lab.py: drive the test lab (tests/lab/lab.sh) from Python tests.

Python 3.6 compatible. Every operation goes through lab.sh, so the shell tool and the
tests share one implementation; this module only adds typed results and conveniences.

    lab = Lab.from_env()          # LAB_NAME / LAB_SUBNET / LAB_DIR, like lab.sh
    lab.up(nodes=3)
    lab.exec("node1", "systemctl is-system-running").stdout
    lab.cut("node2"); ...; lab.restore("node2")
"""

import json
import os
import shlex
import subprocess
from typing import Dict, List, Optional, Sequence, Union

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAB_SH = os.path.join(HERE, "lab.sh")

Command = Union[str, Sequence[str]]


class CommandResult(object):
    """Outcome of one command: rc, stdout, stderr (text)."""

    def __init__(self, command: List[str], rc: int, stdout: str, stderr: str) -> None:
        self.command = command
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> "CommandResult":
        if self.rc != 0:
            raise LabError("{} exited {}: {}".format(
                " ".join(shlex.quote(w) for w in self.command), self.rc,
                (self.stderr or self.stdout).strip()[-2000:]))
        return self

    def __repr__(self):
        return "CommandResult(rc={!r}, stdout={!r}, stderr={!r})".format(
            self.rc, self.stdout[-200:], self.stderr[-200:])


class LabError(RuntimeError):
    pass


class Node(object):
    """One lab node as listed in nodes.json."""

    def __init__(self, name: str, address: str, roles: List[str], pid: Optional[int]) -> None:
        self.name = name
        self.address = address
        self.roles = roles
        self.pid = pid

    def __repr__(self):
        return "Node({!r}, {!r}, roles={!r}, pid={!r})".format(
            self.name, self.address, self.roles, self.pid)


def _words(cmd: Command) -> List[str]:
    """A string is a shell command line (run by sh -c); a sequence is argv as is."""
    if isinstance(cmd, str):
        return ["sh", "-c", cmd]
    return list(cmd)


class Lab(object):
    """A lab identified by its directory (and name/subnet, which lab.sh checks)."""

    def __init__(self, lab_dir: Optional[str] = None, name: Optional[str] = None, subnet: Optional[str] = None) -> None:
        self.name = name or os.environ.get("LAB_NAME") or "drl"
        self.subnet = subnet or os.environ.get("LAB_SUBNET") or "10.231.0"
        if lab_dir is None:
            lab_dir = os.environ.get("LAB_DIR") or os.path.join(
                REPO, "build", "lab" if self.name == "drl" else "lab-" + self.name)
        self.dir = os.path.abspath(lab_dir)
        env_file = os.path.join(self.dir, "lab.env")
        if name is None and subnet is None and os.path.exists(env_file):
            env = self._read_env(env_file)
            self.name = env.get("name", self.name)
            self.subnet = env.get("subnet", self.subnet)

    @classmethod
    def from_env(cls) -> "Lab":
        return cls(os.environ.get("LAB_DIR"), os.environ.get("LAB_NAME"),
                   os.environ.get("LAB_SUBNET"))

    @staticmethod
    def _read_env(path: str) -> Dict[str, str]:
        out = {}
        with open(path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                out[key] = value
        return out

    # -- files written by `lab.sh up` -------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    @property
    def ssh_config(self) -> str:
        return self.path("ssh_config")

    @property
    def upgrade_ini(self) -> str:
        return self.path("upgrade.ini")

    @property
    def upgrade_key_ini(self) -> str:
        return self.path("upgrade-key.ini")

    @property
    def known_hosts(self) -> str:
        return self.path("known_hosts")

    @property
    def identity(self) -> str:
        return self.path("id_ed25519")

    @property
    def password(self) -> str:
        """The nodes' root password. Never pass it on a command line."""
        with open(self.path("password")) as f:
            return f.read().strip()

    @property
    def mode(self) -> str:
        return self._read_env(self.path("lab.env")).get("mode", "")

    @property
    def nodes(self) -> List[Node]:
        with open(self.path("nodes.json")) as f:
            data = json.load(f)
        return [Node(n["name"], n["address"], n["roles"], n["pid"]) for n in data["nodes"]]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # -- lab.sh -------------------------------------------------------------------------
    @property
    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(LAB_NAME=self.name, LAB_SUBNET=self.subnet, LAB_DIR=self.dir)
        return env

    def run(self, *args: str, **kw: object) -> CommandResult:
        """Run `lab.sh ARGS...`; keyword input= feeds stdin, timeout= bounds it."""
        cmd = [LAB_SH] + list(args)
        proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        try:
            out, err = proc.communicate(kw.get("input"), timeout=kw.get("timeout", 600))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise LabError("timeout: {} ({})".format(" ".join(cmd), err.strip()[-500:])) from None
        return CommandResult(cmd, proc.returncode, out, err)

    def up(self, nodes: Optional[int] = None, scale: bool = False) -> CommandResult:
        args = ["up"]
        if nodes is not None:
            args += ["--nodes", str(nodes)]
        if scale:
            args.append("--scale")
        return self.run(*args).check()

    def down(self) -> CommandResult:
        return self.run("down").check()

    def status(self) -> List[Dict[str, object]]:
        res = self.run("status", "--json")
        if not res.stdout.strip():
            raise LabError("lab.sh status: " + res.stderr.strip())
        return json.loads(res.stdout)

    def is_up(self) -> bool:
        if not os.path.exists(self.path("nodes.json")):
            return False
        try:
            return all(s["ssh"] for s in self.status())
        except LabError:
            return False

    def exec(self, node: str, cmd: Command, input: Optional[str] = None, timeout: float = 120) -> CommandResult:
        """Run cmd inside node (nsenter, no ssh). A str runs under sh -c."""
        return self.run("exec", node, "--", *_words(cmd), input=input, timeout=timeout)

    def ssh_argv(self, node: str, cmd: Optional[Command] = None, options: Sequence[str] = ()) -> List[str]:
        """argv for ssh with the lab's key and known_hosts (BatchMode: never prompts)."""
        argv = ["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes"]
        for opt in options:
            argv += ["-o", opt]
        argv.append(node)
        if cmd is not None:
            argv.append(cmd if isinstance(cmd, str) else " ".join(shlex.quote(w) for w in cmd))
        return argv

    def ssh(self, node: str, cmd: Command, options: Sequence[str] = (), timeout: float = 60) -> CommandResult:
        argv = self.ssh_argv(node, cmd, options)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return CommandResult(argv, -9, out, err)
        return CommandResult(argv, proc.returncode, out, err)

    # -- faults -------------------------------------------------------------------------
    def fault(self, action: str, node: str, *args: str) -> CommandResult:
        return self.run("fault", action, node, *args).check()

    def cut(self, node):
        return self.fault("cut", node)

    def restore(self, node):
        return self.fault("restore", node)

    def rate(self, node, rate="20mbit"):
        return self.fault("rate", node, rate)

    def loss(self, node, probability=0.05):
        return self.fault("loss", node, str(probability))

    def clear(self, node):
        return self.fault("clear", node)

    def wan(self, rate="20mbit", loss=None):
        """A WAN between the control node and the site (node<->node traffic untouched)."""
        return self.run("fault", "wan", rate, *([str(loss)] if loss else [])).check()

    def wan_clear(self):
        return self.run("fault", "wan-clear").check()

    def kill_sshd_sessions(self, node):
        return self.fault("kill-sshd-sessions", node)

    def kill_node(self, node):
        return self.fault("kill-node", node)

    def start_node(self, node):
        return self.fault("start-node", node)

    def fill_disk(self, node, path, size="16M"):
        return self.fault("fill-disk", node, path, size)

    def unfill_disk(self, node, path):
        return self.fault("unfill-disk", node, path)

    def bound_disk(self, node, size="256M"):
        """The node's /backup a disk of its own of `size` (restarts the node): fill_disk fills it."""
        return self.fault("bound-disk", node, size)

    def unbound_disk(self, node):
        return self.fault("unbound-disk", node)
