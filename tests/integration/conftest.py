"""Shared fixtures for integration tests: the lab (tests/lab/), brought up if needed.

The lab is chosen like lab.sh does: LAB_NAME (default drl), LAB_SUBNET, LAB_DIR, so a
test run can target its own lab, e.g.
    LAB_NAME=dla LAB_SUBNET=10.231.50 LAB_DIR=/tmp/dla python3 -m pytest tests/integration
The lab is left running at the end (CI runs `tests/lab/lab.sh down`).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from lab import Lab  # noqa: E402


@pytest.fixture(scope="session")
def lab():
    """The running lab (systemd mode); `lab.sh up` repairs missing or dead nodes."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (namespaces, mounts, cgroups)")
    the_lab = Lab.from_env()
    nodes = os.environ.get("LAB_NODES")
    the_lab.up(nodes=int(nodes) if nodes else None)
    yield the_lab
