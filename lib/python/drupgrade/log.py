"""Controller log (state dir) and console logging; secrets are redacted at the handlers."""
import errno
import logging
import os
import sys

MASK = "******"
FORMAT = "[%(asctime)s] [%(levelname)s] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


class RedactingFilter(logging.Filter):
    """Replace every known secret in the rendered record, whatever path it came by."""

    def __init__(self, secrets=()):
        super().__init__()
        self.secrets = set()
        self.add(secrets)

    def add(self, secrets):
        self.secrets.update(s for s in secrets if s)

    def redact(self, text):
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def filter(self, record):
        if self.secrets:
            record.msg = self.redact(record.getMessage())
            record.args = ()
            if record.exc_info:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_redactor = RedactingFilter()


class _FileHandler(logging.FileHandler):
    """controller.log; a full disk costs the log line, never a traceback on the console (the
    console handler still shows the message, and the command says what is full)."""

    def handleError(self, record):
        err = sys.exc_info()[1]
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return
        super().handleError(record)


def redactor():
    return _redactor


def add_secrets(secrets):
    _redactor.add(secrets)


def setup(state_dir=None, verbose=False, console=True):
    """Console at INFO (DEBUG with verbose) on stderr; controller.log at DEBUG under state_dir."""
    root = logging.getLogger("drupgrade")
    root.setLevel(logging.DEBUG)
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    if console:
        ch = logging.StreamHandler(sys.stderr)
        ch.setLevel(logging.DEBUG if verbose else logging.INFO)
        ch.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        ch.addFilter(_redactor)
        root.addHandler(ch)
    path = None
    if state_dir:
        os.makedirs(os.path.join(state_dir, "logs"), mode=0o700, exist_ok=True)
        path = os.path.join(state_dir, "logs", "controller.log")
        fh = _FileHandler(path, encoding="utf-8")
        os.chmod(path, 0o600)
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        fh.addFilter(_redactor)
        root.addHandler(fh)
    root.propagate = False
    return path
