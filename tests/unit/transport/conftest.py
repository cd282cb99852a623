"""Fixtures: a real OpenSSH server on 127.0.0.1 (own host keys, a test user with a key and
a password) and transport settings pointing at a private known_hosts."""
import os
import shutil
import tempfile
import warnings

import pytest
from sshd_server import TEST_PASSWORD, TEST_UID, TEST_USER, SshdServer

from drupgrade.transport.policy import Endpoint, Heartbeat, TransportSettings


@pytest.fixture(autouse=True)
def no_fork_in_a_threaded_process():
    """Python 3.12+ warns when a multi-threaded process forks with fork()/forkpty() (the
    child may deadlock). The transport starts masters from worker threads, so it must never
    do that: such a warning, from any thread, fails the test. (CPython swallows the
    exception that `-W error` would make of it, so the warning is recorded instead.)"""
    with warnings.catch_warnings(record=True) as seen:
        warnings.filterwarnings("always", message="This process .* is multi-threaded", category=DeprecationWarning)
        yield
    forks = [str(w.message) for w in seen if "is multi-threaded" in str(w.message)]
    for w in seen:
        if "is multi-threaded" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    assert forks == []


@pytest.fixture(scope="session")
def sshd():
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/sshd") or not shutil.which("unshare"):
        pytest.skip("needs root, /usr/sbin/sshd and unshare to run a private sshd on 127.0.0.1")
    root = tempfile.mkdtemp(prefix="drupgrade-sshd-")
    server = SshdServer(root)
    server.setup()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def settings(tmp_path):
    cm = tempfile.mkdtemp(prefix="dcm-")  # control sockets need a short path
    beats = {t: Heartbeat(t, 2, 6, 2) for t in ("control", "transfer", "plugin")}
    beats["status"] = Heartbeat("status", 2, 6, None)
    st = TransportSettings(known_hosts=str(tmp_path / "known_hosts"), heartbeats=beats, connect_timeout=5,
                           control_dir=cm, secrets=[TEST_PASSWORD])
    yield st
    shutil.rmtree(cm, ignore_errors=True)


@pytest.fixture
def key_node(sshd):
    return Endpoint("nk", "127.0.0.1", sshd.port, TEST_USER, private_key_path=sshd.client_key)


@pytest.fixture
def pw_node(sshd):
    return Endpoint("np", "127.0.0.1", sshd.port, TEST_USER, password=TEST_PASSWORD)


@pytest.fixture(params=["key", "password"])
def node(request, key_node, pw_node):
    return key_node if request.param == "key" else pw_node


@pytest.fixture
def remote_dir(sshd, request):
    """A fresh directory in the test user's home, as seen by the node."""
    d = os.path.join(sshd.home, "t-" + request.node.name.replace("[", "-").replace("]", ""))
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chown(d, TEST_UID, TEST_UID)
    return d
