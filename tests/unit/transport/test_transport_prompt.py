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
