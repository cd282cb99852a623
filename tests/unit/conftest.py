"""Unit tests import the controller from the source tree."""
import logging
import os
import subprocess
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))


@pytest.fixture
def tmpfs(tmp_path):
    """mount(name, size): a directory of tmp_path on a real tmpfs of that size (mode 0700), for
    disk-full cases; unmounted at the end. Mounting needs root (the tests run as root in CI)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    mounted = []

    def mount(name, size):
        d = str(tmp_path / name)
        os.mkdir(d)
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", d])
        mounted.append(d)
        return d
    yield mount
    for d in reversed(mounted):
        subprocess.check_call(["umount", d])



@pytest.fixture
def tool_logging():
    """cli.main and log.setup() take the 'drupgrade' logger over (propagate off, their handlers):
    give it back at the end of the test, so other tests can capture its records."""
    logger = logging.getLogger("drupgrade")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield logger
    for h in list(logger.handlers):
        if h not in saved[0]:
            h.close()
    logger.handlers[:], logger.propagate, logger.level = saved
