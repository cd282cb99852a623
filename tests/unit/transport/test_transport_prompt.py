"""The password is typed only at ssh's own password prompt (audit L11): never at a banner line or a
message that merely says "password:", against a real sshd that sends such a banner."""
import os
import shutil
import tempfile

import pytest
from sshd_server import TEST_PASSWORD, TEST_USER, SshdServer

from drupgrade.transport import ssh
from drupgrade.transport.policy import Endpoint


@pytest.mark.parametrize("seen, prompt", [
    (b"drtest@127.0.0.1's password: ", True),
    (b"Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\r\n\rroot@node1's password: ", True),
    (b"(root@node1) Password: ", True),
    (b"Password: ", True),
    (b"Authorized use only. Your password: is logged\r\n", False),
    (b"Note: the password: expires in 3 days\r\n", False),
    (b"Enter your password: ", False),  # a banner line cut by a read: not OpenSSH's wording
    (b"banner\r\nroot@node1's password: \r\nPermission denied, please try again.\r\n", False),
    (b"(root@node1) Verification code: ", False),
    (b"", False),
])
def test_only_the_real_prompt_at_the_end_counts(seen, prompt):
    assert ssh.is_password_prompt(seen) is prompt


@pytest.fixture(scope="module")
def banner_sshd(sshd):
    """A second sshd whose pre-auth banner (longer than one read of the pty) says "password:"."""
    root = tempfile.mkdtemp(prefix="drupgrade-sshd-b-")
    server = SshdServer(root)
    server.setup()
    with open(os.path.join(root, "banner"), "w") as f:
        f.write("Authorized use only. Your password: is logged and audited.\n")
        f.write("".join("line %03d of the site's usage policy, long enough to need several reads\n" % i
                        for i in range(100)))
    with open(os.path.join(root, "sshd_config"), "a") as f:
        f.write("Banner %s/banner\n" % root)
    server.start()
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def test_a_banner_saying_password_does_not_get_the_password(banner_sshd, settings, monkeypatch):
    # OpenSSH shows banners from LogLevel INFO up (ours is ERROR, which hides them): the matcher must
    # not depend on that, so this master runs at INFO and really gets the banner on its terminal.
    options = ssh.SshArgs.options
    monkeypatch.setattr(ssh.SshArgs, "options", lambda self, master: dict(options(self, master), LogLevel="INFO"))
    node = Endpoint("nb", "127.0.0.1", banner_sshd.port, TEST_USER, password=TEST_PASSWORD)
    master = ssh.Master(ssh.SshArgs(node, settings, "control"))
    try:
        master.start()  # one attempt: raises on "Permission denied (password)"
        assert master.alive()
    finally:
        master.stop()


# A stand-in for ssh on PATH: it writes what a real ssh writes on its terminal, in pieces, reads
# what is typed there (no echo) into $RECORD, and "connects" by creating the ControlPath socket file.
FAKE_SSH = r"""#!/bin/bash
for a in "$@"; do case $a in ControlPath=*) cp=${a#ControlPath=} ;; esac; done
printf 'Warning: Permanently added the host key.\r\n'
for n in $(seq "$PROMPTS"); do
  printf 'root@node1'"'"'s pass'
  sleep 0.2  # the prompt arrives in two reads: the first ends in the middle of it
  printf 'word: '
  IFS= read -r typed || exit 255
  printf '%s\n' "$typed" >> "$RECORD"
  printf '\r\n'
  [ "$n" = "$PROMPTS" ] || printf 'Permission denied, please try again.\r\n'
done
: > "$cp"
exec sleep 60
"""


@pytest.fixture
def fake_ssh(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(FAKE_SSH)
    os.chmod(str(bindir / "ssh"), 0o755)
    record = tmp_path / "typed"
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("RECORD", str(record))
    return record


def test_a_prompt_that_arrives_in_pieces_gets_the_password_once(fake_ssh, settings, monkeypatch):
    monkeypatch.setenv("PROMPTS", "1")
    node = Endpoint("nf", "127.0.0.1", 22, TEST_USER, password=TEST_PASSWORD)
    master = ssh.Master(ssh.SshArgs(node, settings, "control"))
    try:
        master.start()
        assert master.alive()
    finally:
        master.stop()
    assert fake_ssh.read_text() == TEST_PASSWORD + "\n"


def test_a_second_prompt_means_the_password_was_refused(fake_ssh, settings, monkeypatch):
    from drupgrade.transport import failures
    monkeypatch.setenv("PROMPTS", "2")
    node = Endpoint("nf", "127.0.0.1", 22, TEST_USER, password=TEST_PASSWORD)
    s = ssh.SshSession(node, settings)
    try:
        with pytest.raises(failures.AuthenticationFailed) as exc:
            s.connect()
    finally:
        s.close()
    assert "Permission denied" in exc.value.message
    assert fake_ssh.read_text() == (TEST_PASSWORD + "\n") * ssh.AUTH_TRIES  # once per try, never twice in one


def test_a_master_gets_sighup_back_even_when_the_controller_ignores_it():
    """Under nohup (or `upgrade.sh run &` from a script) the controller has SIGHUP ignored; ssh keeps
    an ignored SIGHUP ignored, so without the reset a master would outlive a dead controller."""
    import pty
    import signal
    import subprocess
    master, slave = pty.openpty()
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        proc = subprocess.Popen(["grep", "^SigIgn", "/proc/self/status"], stdin=slave, stdout=slave, stderr=slave,
                                preexec_fn=ssh._own_terminal)
    finally:
        signal.signal(signal.SIGHUP, before)
        os.close(slave)
    proc.wait(timeout=30)
    out = b""
    while b"\n" not in out:
        out += os.read(master, 1024)
    os.close(master)
    ignored = int(out.split()[-1], 16)
    assert not ignored & (1 << (signal.SIGHUP - 1)), out
