"""Controller log (state dir) and console logging; secrets are redacted at the handlers, and
node text in a record cannot drive the terminal (control characters are stripped)."""
import errno
import logging
import logging.handlers
import os
import re
import sys
import time

from drupgrade import safetext

MASK = "******"
_QUOTED = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
# Password-looking text of the product's tools (SQL statements in a processlist, command lines in
# ps, config lines in an error): masked whatever its source, beside the configured secrets.
# scripts/bin/drcontext masks the same shapes on the node.
PATTERNS = (
    # CREATE USER / ALTER USER / GRANT ... IDENTIFIED BY [PASSWORD] '...', IDENTIFIED WITH x BY|AS '...'
    (re.compile(r"(?i)(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)(?:%s|[^\s,;)]+)" % _QUOTED),
     r"\1'" + MASK + "'"),
    # PASSWORD('...'), OLD_PASSWORD(...)
    (re.compile(r"(?i)(\bPASSWORD\s*\()[^)]*(\))"), r"\1" + MASK + r"\2"),
    # password=..., --password=..., MASTER_PASSWORD='...', db_passwd = ...
    (re.compile(r"(?i)([\w-]*pass(?:word|wd)[ \t]*=[ \t]*)(?:%s|[^\s,;)]+)" % _QUOTED), r"\1" + MASK),
    # "password": "..." (JSON)
    (re.compile(r'(?i)("[\w-]*pass(?:word|wd)"[ \t]*:[ \t]*)"(?:[^"\\\n]|\\.)*"'), r'\1"' + MASK + '"'),
    # mysql -pSECRET (the password glued to -p) on a database client's command line
    (re.compile(r"((?i:\b(?:mysql|mariadb|mysqldump|mariadb-dump|mysqladmin|mariadb-admin)\b)[^\n]*?\s-p)(?=\S)\S+"),
     r"\1" + MASK),
)


def redact_patterns(text):
    """text with the password-looking parts of PATTERNS masked."""
    for rx, repl in PATTERNS:
        text = rx.sub(repl, text)
    return text


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
        return redact_patterns(text)

    def filter(self, record):
        record.msg = safetext.clean(self.redact(record.getMessage()))
        record.args = ()
        if record.exc_info:
            record.exc_text = safetext.clean(self.redact(logging.Formatter().formatException(record.exc_info)))
            record.exc_info = None
        return True


_redactor = RedactingFilter()


# controller.log is rotated at this size, LOG_KEEP older files kept (controller.log.1, .2): every
# command appends to it, so without a bound it grew with every run (issue 19's soak: ~17 KB per
# upgrade and rollback); the runs' own logs (logs/<run>/) go with their runs ([backup] keep).
LOG_MAX_BYTES = 8 * 1024 * 1024
LOG_KEEP = 2


class _FileHandler(logging.handlers.RotatingFileHandler):
    """controller.log, rotated (LOG_MAX_BYTES, LOG_KEEP); a full disk costs the log line, never a
    traceback on the console (the console handler still shows the message, and the command says
    what is full)."""

    def doRollover(self):  # noqa: N802 - logging's name
        super().doRollover()
        os.chmod(self.baseFilename, 0o600)  # the new file is the owner's only, as the first one was

    def handleError(self, record):
        err = sys.exc_info()[1]
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return
        super().handleError(record)


class _ConsoleHandler(logging.StreamHandler):
    """The console: whatever sys.stderr is when a record is written, not when the handler was made.
    On a terminal the command's live display (drupgrade.view) takes sys.stderr over while it draws,
    and prints what is written there above itself: the lines of the run (the step progress every
    10 s among them) then never tear it."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def add_secrets(secrets):
    _redactor.add(secrets)


def safe(text):
    """What the handlers make of a record, for text written to the terminal without logging."""
    return safetext.clean(_redactor.redact(text))


def setup(state_dir=None, verbose=False, console=True):
    """Console at INFO (DEBUG with verbose) on stderr; controller.log at DEBUG under state_dir."""
    root = logging.getLogger("drupgrade")
    root.setLevel(logging.DEBUG)
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    if console:
        ch = _ConsoleHandler()
        ch.setLevel(logging.DEBUG if verbose else logging.INFO)
        ch.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        ch.addFilter(_redactor)
        root.addHandler(ch)
    path = None
    if state_dir:
        os.makedirs(os.path.join(state_dir, "logs"), mode=0o700, exist_ok=True)
        path = os.path.join(state_dir, "logs", "controller.log")
        fh = _FileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_KEEP, encoding="utf-8")
        os.chmod(path, 0o600)
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        fh.addFilter(_redactor)
        root.addHandler(fh)
    root.propagate = False
    return path


class timed(object):  # noqa: N801 - used as `with log.timed(...)`, like a function
    """`with log.timed(logger, "what"):` a DEBUG line "timing: what N.NN s" in controller.log when
    the block ends (how long each phase of a command took: docs/benchmarks.md)."""

    def __init__(self, logger, what):
        self.logger, self.what, self.t0 = logger, what, None

    def __enter__(self):
        self.t0 = time.time()
        return self

    def __exit__(self, *exc):
        self.logger.debug("timing: %s %.2f s", self.what, time.time() - self.t0)
