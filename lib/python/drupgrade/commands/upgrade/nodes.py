"""`upgrade.sh nodes`: reach every node and say how (address, auth, host key, latency,
scp/SFTP, product version); exit 1 if any node fails, with the reason per node. The probing is the
transport's (Transport.probe, read-only); this command only shows it."""
import json
import sys

from drupgrade import fanout, product, safetext
from drupgrade.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport import Endpoint, Transport, TransportError, TransportSettings, hostkeys

SUMMARY = N_("reach every node: address, auth method, host-key fingerprint, latency, product version")


def add_arguments(parser):
    parser.add_argument("--accept-new-key", metavar="NODE", dest="accept_new_key",
                        help=_("record the host key NODE offers now in place of the recorded one, after "
                               "checking it against --fingerprint (or asking on a terminal)"))
    parser.add_argument("--fingerprint", metavar="SHA256:...",
                        help=_("with --accept-new-key: the fingerprint you read on the node itself"))


def node_row(transport, node, prod):
    """One node's report (also its JSON row): what the transport's probe found, and the product
    version (Product.installed_version) on a node that answers."""
    found = transport.probe(node)
    row = {k: v for k, v in found.as_dict().items() if k not in ("scp_error", "sftp_error", "hint")}
    row.update(roles=list(node.roles), version=None, ok=False, error=safetext.clean(found.error))
    if found.hint:
        row["hint"] = found.hint
    if not found.reachable:
        return row
    try:
        row["version"] = prod.installed_version(transport, node, conn_type="status", retry=False)
    except product.NotAVersion as e:  # shown as the node's text it is (cleaned)
        row["version"] = e.text
    except TransportError as e:  # the link went after the probe
        row.update(error=safetext.clean(e.message))
        return row
    problems = []
    if not found.scp:
        problems.append(_("scp does not work: {reason}").format(reason=found.scp_error))
    if not found.sftp:
        problems.append(_("SFTP does not work: {reason}").format(reason=found.sftp_error))
    row.update(ok=found.transfers, error="; ".join(problems) or None)
    return row


def _key_cell(r):
    state = r["host_key_state"]
    if state == "changed":
        return _("CHANGED: recorded {known}, offered {offered}").format(known=r["host_key"] or "?",
                                                                       offered=r["host_key_offered"] or "?")
    if state == "new":
        if r["host_key"]:
            return _("{fingerprint} (new: learned now)").format(fingerprint=r["host_key"])
        return _("{fingerprint} (new: not recorded)").format(fingerprint=r["host_key_offered"] or "?")
    if state == "unchecked":
        return _("not checked (host_key_policy = insecure)")
    if state == "recorded":
        return _("{fingerprint} (recorded)").format(fingerprint=r["host_key"])
    return r["host_key"] or "-"


def _print_table(rows):
    """The nodes as status shows them: a line per node in aligned columns (node, address, roles,
    version, auth, latency, scp, sftp, result), the host key and anything wrong on lines below it;
    node text made safe for the terminal (safetext)."""
    from rich.cells import cell_len
    headers = [_("node"), _("address"), _("roles"), _("version"), _("auth"), _("latency"), "scp", "sftp",
               _("result")]
    lines = [headers] + [[r["node"], r["address"], ",".join(r["roles"]), r["version"] or "-", r["auth_method"],
                          "%.1f ms" % r["latency_ms"] if r["latency_ms"] is not None else "-", _yn(r["scp"]),
                          _yn(r["sftp"]), _("ok") if r["ok"] and not r["error"] else _("failed")] for r in rows]
    lines = [[safetext.clean(c, one_line=True) for c in cells] for cells in lines]
    widths = [max(cell_len(cells[i]) for cells in lines) for i in range(len(headers))]
    widths[0] = max(widths[0], 9)  # status's node column
    for n, cells in enumerate(lines):
        print(("  " + "  ".join(c + " " * (w - cell_len(c)) for c, w in zip(cells, widths))).rstrip())
        if n == 0:
            continue
        r, indent = rows[n - 1], " " * (4 + widths[0])
        print(indent + _("host key: {key}").format(key=safetext.clean(_key_cell(r), one_line=True)))
        if r["error"]:
            print(indent + _("error: {detail}").format(detail=safetext.clean(r["error"], one_line=True)))
        if r.get("hint"):
            print(indent + _("what to do: {hint}").format(hint=safetext.clean(r["hint"], one_line=True)))


def _yn(v):
    return "-" if v is None else (_("yes") if v else _("no"))


def _ask(key_type, fingerprint):
    """On a terminal: the operator compares the offered fingerprint with the node's own."""
    sys.stderr.write(_("the node offers the host key {type} {fingerprint}; compare it with the fingerprint on the "
                       "node's own console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).").format(
        type=key_type, fingerprint=fingerprint) + "\n")
    sys.stderr.write(_("record this key? type yes to record it: "))
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("yes", _("yes"))


def accept_new_key(ctx):
    """--accept-new-key NODE [--fingerprint SHA256:…]: never on --yes alone (docs/transport.md)."""
    expected = hostkeys.check_fingerprint(ctx.args.fingerprint) if ctx.args.fingerprint else None
    config = ctx.config
    try:
        node = config.node(ctx.args.accept_new_key)
    except KeyError:
        raise DrupgradeError(_("no node named {node} in the configuration").format(
            node=ctx.args.accept_new_key), code=EXIT_USAGE) from None
    known_hosts = TransportSettings.from_config(config).known_hosts
    ep = Endpoint.of(node)
    confirm = _ask if sys.stdin.isatty() and sys.stderr.isatty() else None
    fps = hostkeys.accept_new_key(ep, known_hosts, expected=expected, confirm=confirm)
    for t, fp in fps:
        print(_("node {node}: host key now recorded: {type} {fingerprint}").format(
            node=ep.name, type=t, fingerprint=fp))
    return EXIT_OK


def run(ctx):
    if ctx.args.fingerprint and not ctx.args.accept_new_key:
        raise DrupgradeError(_("--fingerprint goes with --accept-new-key NODE"), code=EXIT_USAGE,
                             hint=_("run: bin/upgrade.sh nodes --accept-new-key NODE --fingerprint SHA256:..."))
    if ctx.args.accept_new_key:
        return accept_new_key(ctx)
    config = ctx.config
    with Transport.from_config(config) as transport:
        rows = fanout.fan_out(config, lambda n: node_row(transport, n, product.of(config)), config.nodes)
    if ctx.json:
        print(json.dumps({"nodes": rows, "ok": all(r["ok"] and not r["error"] for r in rows)},
                         ensure_ascii=False, indent=2))
    else:
        _print_table(rows)
    return EXIT_OK if all(r["ok"] and not r["error"] for r in rows) else EXIT_FAILED
