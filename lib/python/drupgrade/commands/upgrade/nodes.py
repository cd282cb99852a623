"""`upgrade.sh nodes`: reach every node and say how (address, auth, host key, latency,
scp/SFTP, product version); exit 1 if any node fails, with the reason per node."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time

from drupgrade import product, safetext
from drupgrade.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport import Endpoint, Transport, TransportError, TransportSettings, hostkeys
from drupgrade.transport.quoting import UnsafeValue
from drupgrade.transport.sftp import EngineFailure, SftpEngine

SUMMARY = N_("reach every node: address, auth method, host-key fingerprint, latency, product version")

# What the scp check downloads: a small file every Linux node has, readable by anyone. A read-only
# command writes nothing on a node, so the check copies from the node, never to it.
PROBE_FILE = "/etc/passwd"


def add_arguments(parser):
    parser.add_argument("--json", dest="nodes_json", action="store_true", help=_("machine-readable JSON output"))
    parser.add_argument("--accept-new-key", metavar="NODE", dest="accept_new_key",
                        help=_("record the host key NODE offers now in place of the recorded one, after "
                               "checking it against --fingerprint (or asking on a terminal)"))
    parser.add_argument("--fingerprint", metavar="SHA256:...",
                        help=_("with --accept-new-key: the fingerprint you read on the node itself"))


def _latency_ms(session, samples=3):
    times = []
    for _i in range(samples):
        t0 = time.time()
        res = session.run(["true"], retry=False)
        if res.rc != 0:
            raise TransportError(res.stderr.strip() or "rc %d" % res.rc, node=session.name)
        times.append((time.time() - t0) * 1000.0)
    times.sort()
    return round(times[len(times) // 2], 1)


def _check_scp(transport, node):
    """Copy a small file from the node with scp through the transfer master (nothing is written
    on the node; the copy goes to a private temporary directory here and is removed)."""
    local = tempfile.mkdtemp(prefix="drupgrade-probe-")
    try:
        sess = transport.session(node, "transfer")
        sess.connect()
        argv = sess.args.scp_argv([sess.args.remote(PROBE_FILE)], os.path.join(local, "probe"))
        import subprocess

        from drupgrade.transport.ssh import _child_env
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=_child_env(), universal_newlines=True)
        if p.returncode != 0:
            return False, p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "rc %d" % p.returncode
        return True, ""
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _check_sftp(settings, ep):
    eng = SftpEngine(ep, settings, "status")
    try:
        eng.connect()
        eng.sftp.stat("/")
        return True, ""
    except EngineFailure as e:
        return False, e.detail
    except TransportError as e:
        return False, e.message
    finally:
        eng.close()


def probe_node(transport, node):
    """One node's report: a dict (also the JSON row)."""
    ep = Endpoint.of(node)
    settings = transport.settings
    row = {"node": ep.name, "address": "%s:%d" % (ep.host, ep.port), "user": ep.username,
           "auth_method": ep.auth_method, "host_key_policy": ep.host_key_policy, "host_key": None,
           "host_key_state": None, "host_key_offered": None,
           "latency_ms": None, "scp": None, "sftp": None, "version": None, "ok": False, "error": None}
    try:
        sess = transport.session(node, "status")
        try:
            sess.connect()
        except TransportError as e:
            _host_key(row, ep, settings.known_hosts, e)
            raise
        _host_key(row, ep, settings.known_hosts, None)
        row["latency_ms"] = _latency_ms(sess)
        try:
            row["version"] = product.installed_version(transport, node, conn_type="status", retry=False)
        except product.NotAVersion as e:  # shown as the node's text it is (cleaned)
            row["version"] = e.text
        ok_scp, why_scp = _check_scp(transport, node)
        row["scp"] = ok_scp
        ok_sftp, why_sftp = _check_sftp(settings, ep)
        row["sftp"] = ok_sftp
        problems = []
        if not ok_scp:
            problems.append(_("scp does not work: {reason}").format(reason=why_scp))
        if not ok_sftp:
            problems.append(_("SFTP does not work: {reason}").format(reason=why_sftp))
        row["ok"] = ok_scp or ok_sftp
        row["error"] = "; ".join(problems) or None
    except (TransportError, UnsafeValue) as e:
        row["error"] = safetext.clean(getattr(e, "message", None) or str(e))
        if getattr(e, "hint", None):
            row["hint"] = e.hint
    return row


def _host_key(row, ep, known_hosts, error):
    """The node's host key, its state (new, recorded, changed, unchecked) and what it offers."""
    key = hostkeys.describe(ep, known_hosts, error)
    row.update(host_key=key["fingerprint"], host_key_state=key["state"], host_key_offered=key["offered"])


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


def _print_table(ctx, rows):
    headers = [_("node"), _("address"), _("auth"), _("host key"), _("latency"), "scp", "sftp", _("version"),
               _("result")]

    def cells(r):
        return [r["node"], r["address"], r["auth_method"], _key_cell(r),
                "%.1f ms" % r["latency_ms"] if r["latency_ms"] is not None else "-",
                _yn(r["scp"]), _yn(r["sftp"]), r["version"] or "-", _result(r)]
    if ctx.console is not None:
        from rich.table import Table
        table = Table()
        for h in headers:
            table.add_column(h)
        for r in rows:
            table.add_row(*[safetext.text(c) for c in cells(r)])
        ctx.console.print(table)
        return
    for r in rows:
        print("  ".join("%s=%s" % (h, safetext.clean(c, one_line=True)) for h, c in zip(headers, cells(r))))


def _result(r):
    if r["ok"] and not r["error"]:
        return _("ok")
    text = r["error"] or _("failed")
    return text + ("\n" + _("what to do: {hint}").format(hint=r["hint"]) if r.get("hint") else "")


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
    transport = Transport.from_config(config, ctx.console)
    rows = [None] * len(config.nodes)
    try:
        def work(i, n):
            rows[i] = probe_node(transport, n)
        threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(config.nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        transport.close()
    if ctx.json or ctx.args.nodes_json:
        print(json.dumps({"nodes": rows, "ok": all(r["ok"] and not r["error"] for r in rows)},
                         ensure_ascii=False, indent=2))
    else:
        _print_table(ctx, rows)
    return EXIT_OK if all(r["ok"] and not r["error"] for r in rows) else EXIT_FAILED
