"""A real OpenSSH server on 127.0.0.1 for transport tests: own host keys, own test user.

sshd runs in a private mount namespace in which /etc/passwd and /etc/shadow are
bind-mounted copies that add the test user, so the host's account files are never
touched. Only loopback traffic.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

TEST_USER = "drtest"
TEST_UID = 61017
TEST_PASSWORD = "S3cr3t-Pw.7f3a9c"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SshdServer(object):
    """sshd -D on 127.0.0.1:port with its own keys; start() / stop() / regenerate_host_keys()."""

    def __init__(self, root, port=None):
        self.root = root
        self.port = port or free_port()
        self.home = os.path.join(root, "home", TEST_USER)
        self.client_key = os.path.join(root, "id_ed25519")
        self.small = os.path.join(self.home, "small")  # a 4 MB tmpfs, seen only by sshd: disk full
        self.proc = None

    # -- setup ---------------------------------------------------------------
    def _write(self, name, text, mode=0o644):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def setup(self):
        os.makedirs(self.small, exist_ok=True)
        # sshd reads authorized_keys as the user: the path must be traversable.
        os.chmod(self.root, 0o755)
        os.chmod(os.path.dirname(self.home), 0o755)
        self.regenerate_host_keys()
        if not os.path.exists(self.client_key):
            subprocess.check_call(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.client_key])
        hashed = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"], input=TEST_PASSWORD, stdout=subprocess.PIPE,
            universal_newlines=True, check=True).stdout.strip()
        with open("/etc/passwd") as f:
            passwd = f.read()
        with open("/etc/shadow") as f:
            shadow = f.read()
        passwd += "%s:x:%d:%d::%s:/bin/bash\n" % (TEST_USER, TEST_UID, TEST_UID, self.home)
        shadow += "%s:%s:19000:0:99999:7:::\n" % (TEST_USER, hashed)
        self._write("passwd", passwd)
        self._write("shadow", shadow, 0o640)
        with open(self.client_key + ".pub") as f:
            pub = f.read()
        ssh_dir = os.path.join(self.home, ".ssh")
        os.makedirs(ssh_dir, exist_ok=True)
        with open(os.path.join(ssh_dir, "authorized_keys"), "w") as f:
            f.write(pub)
        for path in (self.home, ssh_dir, os.path.join(ssh_dir, "authorized_keys")):
            os.chown(path, TEST_UID, TEST_UID)
        os.chmod(ssh_dir, 0o700)
        self._write("sshd_config", "\n".join([
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey %s/ssh_host_ed25519_key" % self.root,
            "HostKey %s/ssh_host_rsa_key" % self.root,
            "PidFile %s/sshd.pid" % self.root,
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "UsePAM no",
            "PermitRootLogin no",
            "StrictModes no",
            "MaxSessions 50",
            "MaxStartups 50:30:100",
            "Subsystem sftp internal-sftp",
            "LogLevel ERROR",
            "",
        ]))

    def regenerate_host_keys(self):
        for kind in ("ed25519", "rsa"):
            path = os.path.join(self.root, "ssh_host_%s_key" % kind)
            for p in (path, path + ".pub"):
                if os.path.exists(p):
                    os.unlink(p)
            subprocess.check_call(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path])

    # -- lifecycle -------------------------------------------------------------
    def start(self):
        script = (
            "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd "
            "&& mount --bind {r}/passwd /etc/passwd && mount --bind {r}/shadow /etc/shadow "
            "&& mount -t tmpfs -o size=4m,uid={uid},gid={uid},mode=0755 tmpfs {small} "
            "&& exec /usr/sbin/sshd -D -e -f {r}/sshd_config").format(r=self.root, uid=TEST_UID, small=self.small)
        log = open(os.path.join(self.root, "sshd.log"), "ab")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("sshd exited: see %s/sshd.log" % self.root) from None
                time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
