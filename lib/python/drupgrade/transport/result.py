"""One result type for every remote command (testinfra's CommandResult is the model)."""

SSH_FAILED = 255  # ssh itself failed (connection, auth, host key): not the remote command


class CommandResult(object):
    """rc, stdout, stderr of one command on one node; rc 255 means ssh itself failed."""

    __slots__ = ("node", "command", "rc", "stdout", "stderr", "still_running")

    def __init__(self, node, command, rc, stdout="", stderr=""):
        self.node = node
        self.command = command
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.still_running = False  # a detached run that outlived the wait's timeout

    @property
    def ssh_failed(self):
        """ssh itself failed (rc 255): the connection, auth or host key, not the remote command."""
        return self.rc == SSH_FAILED

    def __repr__(self):
        return "CommandResult(node=%r, rc=%r, command=%r, stdout=%r, stderr=%r)" % (
            self.node, self.rc, self.command, self.stdout[-200:], self.stderr[-200:])
