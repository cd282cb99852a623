"""drupgrade.product: the one reader of the installed product version."""
import os
import subprocess

import pytest

from drupgrade import product
from drupgrade.transport import TransportError
from drupgrade.transport.result import CommandResult

DRP = product.load("drp")
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Node:
    name = "node1"


class Transport:
    def __init__(self, rc, stdout="", stderr=""):
        self.answer = (rc, stdout, stderr)
        self.calls = []

    def run(self, node, command, **kw):
        self.calls.append((command, kw))
        return CommandResult(node.name, " ".join(command), *self.answer)


@pytest.mark.parametrize("rc, stdout, version", [
    (0, "2.2.0\n", "2.2.0"),
    (0, " v2.1.0 \n", "2.1.0"),  # normalised: what plans, journals and comparisons use
    (0, "", None),  # empty: not installed
    (1, "", None),  # no such file
])
def test_the_installed_version_normalised_or_none(rc, stdout, version):
    t = Transport(rc, stdout)
    assert DRP.installed_version(t, Node(), conn_type="status", retry=False) == version
    command, kw = t.calls[0]
    assert command == ["bash", "-c", product.READ, "drversion", DRP.version_file]
    assert kw["conn_type"] == "status" and kw["retry"] is False


class LocalBash:
    """The command as a node runs it, with the VERSION file at `path` (a real bash)."""

    def __init__(self, path):
        self.path = path

    def run(self, node, command, **_kw):
        argv = [self.path if a == DRP.version_file else a for a in command]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        return CommandResult(node.name, " ".join(argv), p.returncode, p.stdout, p.stderr)


def test_the_read_on_a_real_shell_with_and_without_a_command_before(tmp_path):
    path = tmp_path / "VERSION"
    t = LocalBash(str(path))
    assert DRP.installed_version(t, Node()) is None  # no file: not installed
    assert DRP.installed_version(t, Node(), before="echo 12.5") == ("12.5", None)
    path.write_text("2.1.0\n")
    assert DRP.installed_version(t, Node()) == "2.1.0"
    clock, version = DRP.installed_version(t, Node(), before="date +%s.%N")  # one round trip
    assert float(clock) > 0 and version == "2.1.0"
    path.write_text("garbage\n")
    with pytest.raises(product.NotAVersion) as exc:
        DRP.installed_version(t, Node(), before="echo 7")
    assert exc.value.first == "7" and exc.value.text == "garbage"


def test_ssh_failing_is_a_transport_error_with_its_reason():
    with pytest.raises(TransportError) as exc:
        DRP.installed_version(Transport(255, "", "ssh: connect to host n1 port 22: Connection refused\n"), Node())
    assert "Connection refused" in exc.value.message and exc.value.node == "node1"


def test_text_that_is_no_version_names_the_node_and_file_and_is_cleaned():
    with pytest.raises(product.NotAVersion) as exc:
        DRP.installed_version(Transport(0, "2.2.0\x1b]0;owned\x07\nrm -rf /\n"), Node())
    e = exc.value
    assert e.code == 1 and "node1" in e.message and DRP.version_file in e.message
    assert "\x1b" not in e.text and "\x07" not in e.text and "\n" not in e.text
    assert DRP.version_file in e.hint


def test_the_version_file_is_named_only_by_the_product():
    """products/drp/product.json names it; no code of the tool does."""
    code = os.path.join(TOP, "lib", "python", "drupgrade")
    found = []
    for dirpath, _dirs, files in os.walk(code):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    if DRP.version_file in f.read():
                        found.append(os.path.relpath(path, code))
    assert found == []
