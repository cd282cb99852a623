"""§4.1.4 error classes from the texts ssh, scp and sftp really print."""
import pytest

from drupgrade.transport import failures, hostkeys
from drupgrade.transport.policy import Endpoint

CASES = [
    ("root@10.231.0.11: Permission denied (publickey,password).", failures.AUTH),
    ("Received disconnect from 10.0.0.1 port 22:2: Too many authentication failures", failures.AUTH),
    ("scp: /root/x.bin: Permission denied", failures.PERMISSION),
    ("scp: dest open \"/ro/x\": Read-only file system", failures.PERMISSION),
    ("scp: write remote \"/data/x\": No space left on device", failures.DISK_FULL),
    ("cat: write error: No space left on device", failures.DISK_FULL),
    ("Timeout, server 10.231.0.11 not responding.", failures.NETWORK),
    ("scp: Connection closed\nlost connection", failures.NETWORK),
    ("ssh: connect to host 10.231.0.11 port 22: Connection timed out", failures.NETWORK),
    ("ssh: connect to host 10.231.0.11 port 22: No route to host", failures.NETWORK),
    ("Connection to 10.231.0.11 closed by remote host.", failures.NETWORK),
    ("mux_client_request_session: read from master failed: Broken pipe", failures.NETWORK),
    ("bash: scp: command not found", failures.MISSING),
    ("@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n", failures.HOSTKEY_CHANGED),
    ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\n"
     "Host key verification failed.", failures.HOSTKEY_UNKNOWN),
    ("something odd", failures.OTHER),
]


@pytest.mark.parametrize("text, kind", CASES)
def test_classify(text, kind):
    assert failures.classify(text) == kind


def test_rc_127_is_a_missing_command():
    assert failures.classify("", rc=127) == failures.MISSING


def test_changed_key_error_names_both_fingerprints_and_the_command(tmp_path):
    stderr = ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n"
              "The fingerprint for the ED25519 key sent by the remote host is\n"
              "SHA256:NEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWN.\n"
              "Host key verification failed.\n")
    kh = tmp_path / "kh"
    kh.write_text("[127.0.0.1]:2200 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9h4vPSbdX8ZlCWSbvX2S3XbcWqKnvXJ0fHKzzE5gkq\n")
    err = hostkeys.failure_from_stderr(Endpoint("db1", "127.0.0.1", 2200), str(kh), stderr)
    assert isinstance(err, failures.HostKeyChanged)
    assert "SHA256:NEWNEWNEW" in err.message and "known SHA256:" in err.message
    assert "bin/upgrade.sh nodes --accept-new-key db1" in err.hint


def test_connection_not_recoverable_names_node_type_and_attempts():
    e = failures.ConnectionNotRecoverable("node2", "transfer", 2, "Connection timed out")
    assert "node2" in e.message and "transfer" in e.message and "2" in e.message
