"""The one place where remote command lines are built: quoted words, nothing else.

Node names, hosts and paths come from a configuration file; they must never be able to
run anything. Commands are lists of words quoted with shlex.quote, or scripts sent on
stdin; hosts and remote paths are validated before they reach an ssh/scp argv.
"""
import re
import shlex

try:  # pragma: no cover - typing only
    from typing import Iterable, Union  # noqa: F401
except ImportError:  # pragma: no cover
    pass

# A host is a DNS name, an IPv4 or an IPv6 address: never starts with '-', no spaces.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[?[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\]?)$")
_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
# scp and sftp read the remote path themselves; keep it to characters no layer rewrites.
_REMOTE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/@%+=,:~-]*$")


class UnsafeValue(ValueError):
    """A host, user or path from the configuration that could be read as an option or code."""


def quote(word):
    return shlex.quote(str(word))


def join(words):
    # type: (Iterable[object]) -> str
    """One shell command line from words: every word quoted, so each stays one argument."""
    return " ".join(quote(w) for w in words)


def command_line(command):
    # type: (Union[str, Iterable[object]]) -> str
    """A list of words is quoted here; a str is taken as an already built line."""
    if isinstance(command, str):
        return command
    return join(command)


def bash_c(script, *args):
    """`bash -c SCRIPT NAME ARGS...` as one quoted line: data only ever arrives as $1, $2..."""
    return join(["bash", "-c", script, "drupgrade"] + [str(a) for a in args])


def check_host(host):
    if not host or not _HOST_RE.match(host) or host.startswith("-"):
        raise UnsafeValue("host %r" % (host,))
    return host


def check_user(user):
    if not user or not _USER_RE.match(user):
        raise UnsafeValue("user name %r" % (user,))
    return user


def check_remote_path(path):
    if not path or not _REMOTE_PATH_RE.match(path) or "/../" in path + "/" or "\n" in path:
        raise UnsafeValue("remote path %r" % (path,))
    return path


# Node-side bash helper for the fixed scripts: `sha [FILE]` prints the sha256 of FILE (or of
# stdin). openssl uses the CPU's SHA instructions (about 4x coreutils' sha256sum here);
# sha256sum where the node has no openssl.
SHA_FN = r"""if command -v openssl >/dev/null 2>&1; then
  sha() { openssl dgst -sha256 -r "$@" | cut -d' ' -f1; }
else
  sha() { sha256sum -- "$@" | cut -d' ' -f1; }
fi
"""

# Node-side python3 program (argv: PATH SIZE) that reads PATH from byte 0 while another
# process writes it (page cache, 4 MB reads) and prints its sha256 right after the SIZEth
# byte: the node's hash of the whole file costs no second read after a transfer. One whose
# writer is gone (cut link) gives up after 10 minutes without growth, and at once when the
# file is deleted (it must not hold a removed partial's space): exit 1.
HASHER = r"""import hashlib, os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
h, done, last = hashlib.sha256(), 0, time.time()
with open(path, "rb") as f:
    while done < size:
        b = f.read(min(4194304, size - done))
        if b:
            h.update(b)
            done += len(b)
            last = time.time()
        elif time.time() - last > 600 or os.fstat(f.fileno()).st_nlink == 0:
            sys.exit(1)
        else:
            time.sleep(0.02)
print(h.hexdigest())
"""
