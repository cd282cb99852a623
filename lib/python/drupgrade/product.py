"""What the controller knows about the product on a node: where its installed version is written,
and the one reader of it (plan, run, precheck, nodes, rollback). The product is drp for now; a
later issue moves this knowledge into products/<name>/."""
from drupgrade import safetext, versions
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport import TransportError

VERSION_FILE = "/opt/drp/VERSION"  # the installed version, one line such as 2.2.0 (SPEC §4)
READ = 'cat -- "$1" 2>/dev/null || true'  # bash -c READ drversion VERSION_FILE: its text, nothing when none
NOT_A_VERSION = N_("node {node}: {file} holds {text!r}, which is not a version")
NOT_A_VERSION_HINT = N_("check the product's installation on this node: its installer writes {file}")


class NotAVersion(DrupgradeError):
    """The node's VERSION file holds something else than a version (text: what it holds, cleaned)."""

    def __init__(self, node, text):
        super().__init__(_(NOT_A_VERSION).format(node=node, file=VERSION_FILE, text=text), code=EXIT_FAILED,
                         hint=_(NOT_A_VERSION_HINT).format(file=VERSION_FILE))
        self.node = node
        self.text = text
        self.first = ""  # installed_version(before=…): that command's line


def installed_version(transport, node, conn_type="control", timeout=60, retry=True, before=None):
    """The product version installed on `node`, normalised ('2.2.0'), or None when it has none (the
    file is missing, empty or unreadable). The node's text is cleaned before anything shows it.
    Raises TransportError when ssh itself failed (the node is out of reach, and why), NotAVersion
    (exit 1, naming the node and the file) when the file holds something that is not a version.
    before: a command whose one line of output comes first, in the same round trip (the precheck's
    clock); then the result is (that line, the version)."""
    script = before + "; " + READ if before else READ
    res = transport.run(node, ["bash", "-c", script, "drversion", VERSION_FILE], conn_type=conn_type,
                        timeout=timeout, retry=retry)
    if res.ssh_failed:
        raise TransportError(res.stderr.strip() or _("exit code {rc}").format(rc=res.rc), node=node.name)
    rest, first = res.stdout if res.rc == 0 else "", ""
    if before:
        first, _nl, rest = rest.partition("\n")
    try:
        version = _parse(node, rest)
    except NotAVersion as e:
        e.first = first  # the caller still gets the line of `before`
        raise
    return (first, version) if before else version


def _parse(node, text):
    text = safetext.clean(text, one_line=True).strip()
    if not text:
        return None
    try:
        return versions.normalize(text)
    except DrupgradeError:
        raise NotAVersion(node.name, text[:100]) from None
