"""Shared fixtures for integration tests: the lab (tests/lab/), brought up if needed.

The lab is chosen like lab.sh does: LAB_NAME (default drl), LAB_SUBNET, LAB_DIR, so a
test run can target its own lab, e.g.
    LAB_NAME=dla LAB_SUBNET=10.231.50 LAB_DIR=/tmp/dla python3 -m pytest tests/integration
The lab is left running at the end (CI runs `tests/lab/lab.sh down`).

Run by pytest-xdist (`make integration` runs `-n 2 --dist loadfile`: whole modules per worker), the
first worker (gw0) uses that lab and each other worker gwN a lab of its own beside it: LAB_NAME
<name>wN, LAB_SUBNET with the third octet + 110 + N, LAB_DIR <dir>-wN when LAB_DIR is given (the
environment is set here, before a test module reads it; `make lab-down` takes them down too).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from lab import Lab  # noqa: E402


def worker_lab(env):
    """The LAB_* variables of this xdist worker's own lab ({} for gw0 and outside xdist)."""
    worker = env.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if n == 0:
        return {}
    a, b, c = env.get("LAB_SUBNET", "10.231.0").split(".")
    lab = {"LAB_NAME": "%sw%d" % (env.get("LAB_NAME", "drl")[:8], n),
           "LAB_SUBNET": "%s.%s.%d" % (a, b, (int(c) + 110 + n) % 256)}
    if env.get("LAB_DIR"):
        lab["LAB_DIR"] = "%s-w%d" % (env["LAB_DIR"], n)
    return lab


os.environ.update(worker_lab(os.environ))

# The modules that hold the longest upgrade runs, longest first (CI's --durations, main 78dac91:
# about 800, 700, 300, 250 and 200 s of a 2600 s sequential lab suite). Under xdist
# (`--dist loadfile --no-loadscope-reorder`) whole modules go to whichever worker is free, in
# collection order, so the long ones start first and the short ones fill in beside them.
LONGEST_FIRST = ("test_rollback.py", "test_upgrade.py", "test_drp_2_3_0.py", "test_mixed_cluster.py",
                 "test_generator.py")


def pytest_collection_modifyitems(items):
    """Collect the longest modules first (a stable sort: each module's tests keep their order)."""
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)


@pytest.fixture(scope="session")
def lab():
    """The running lab (systemd mode); `lab.sh up` repairs missing or dead nodes."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (namespaces, mounts, cgroups)")
    the_lab = Lab.from_env()
    nodes = os.environ.get("LAB_NODES")
    the_lab.up(nodes=int(nodes) if nodes else None)
    yield the_lab
