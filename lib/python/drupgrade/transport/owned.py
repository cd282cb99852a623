"""Nothing is removed on a node that drupgrade did not create (SPEC S5).

The node-side guard is one bash library, scripts/lib/owned.sh: the node scripts source it, and
the controller sends it in front of its own node scripts (tool install, transfers, prune). A
directory the tool may remove holds the marker file .drupgrade-owned, written when the tool
created it; the guard refuses anything else with exit status 3 and a line naming the path.
"""
import os

from drupgrade.i18n import _

from .failures import TransportError

MARKER = ".drupgrade-owned"
REFUSED = 3  # the exit status of a refusal
_PREFIX = "drupgrade-not-owned: "
_ROOT = os.environ.get("DRUPGRADE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
_cache = {}


def library():
    """The text of scripts/lib/owned.sh (read once)."""
    if "lib" not in _cache:
        with open(os.path.join(_ROOT, "scripts", "lib", "owned.sh"), encoding="utf-8") as f:
            _cache["lib"] = f.read()
    return _cache["lib"]


def script(body):
    """A node script with the guard's functions defined first."""
    return library() + "\n" + body


def refused_path(stderr):
    """The path the guard refused to remove (from its stderr), or None."""
    for line in (stderr or "").splitlines():
        if line.startswith(_PREFIX):
            return line[len(_PREFIX):].strip()
    return None


class NotOwned(TransportError):
    """A directory the tool would remove holds no marker: it was not created by drupgrade. The
    message says what to do too (a failed step shows only the message)."""

    def __init__(self, node, path, key=None):
        if key:
            msg = _("node {node}: {path} was not created by drupgrade (it holds no {marker} file): it was left as "
                    "it is; remove it yourself if nothing in it is needed, or choose another {key} in [paths] of "
                    "the configuration, then run the command again").format(
                node=node, path=path, marker=MARKER, key=key)
        else:
            msg = _("node {node}: {path} was not created by drupgrade (it holds no {marker} file): it was left as "
                    "it is; remove it yourself if nothing in it is needed, or choose another destination, then "
                    "run the command again").format(node=node, path=path, marker=MARKER)
        super().__init__(msg, node=node)
        self.path = path
