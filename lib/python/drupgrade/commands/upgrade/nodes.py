"""`upgrade.sh nodes`: reach every node and say how (address, auth, host key, latency,
scp/SFTP, product version); exit 1 if any node fails, with the reason per node."""
import json
import os
import shutil
import tempfile
import threading
import time

from drupgrade.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport import Endpoint, Transport, TransportError, hostkeys
from drupgrade.transport.quoting import UnsafeValue
from drupgrade.transport.sftp import EngineFailure, SftpEngine

SUMMARY = N_("reach every node: address, auth method, host-key fingerprint, latency, product version")

VERSION_FILE = "/opt/drp/VERSION"
# What the scp check downloads: a small file every Linux node has, readable by anyone. A read-only
# command writes nothing on a node, so the check copies from the node, never to it.
PROBE_FILE = "/etc/passwd"


def add_arguments(parser):
    parser.add_argument("--json", dest="nodes_json", action="store_true", help=_("machine-readable JSON output"))
    parser.add_argument("--accept-new-key", metavar="NODE", dest="accept_new_key",
                        help=_("replace the recorded host key of NODE by the one it offers now"))


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
           "latency_ms": None, "scp": None, "sftp": None, "version": None, "ok": False, "error": None}
    try:
        sess = transport.session(node, "status")
        sess.connect()
        fps = hostkeys.known_fingerprints(settings.known_hosts, ep.host, ep.port)
        row["host_key"] = ", ".join("%s %s" % (t, fp) for t, fp in fps) or None
        row["latency_ms"] = _latency_ms(sess)
        res = sess.run(["cat", "--", VERSION_FILE], retry=False)
        row["version"] = res.stdout.strip() if res.rc == 0 and res.stdout.strip() else None
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
        row["error"] = getattr(e, "message", None) or str(e)
        if getattr(e, "hint", None):
            row["hint"] = e.hint
    return row


def _print_table(ctx, rows):
    headers = [_("node"), _("address"), _("auth"), _("host key"), _("latency"), "scp", "sftp", _("version"),
               _("result")]

    def cells(r):
        return [r["node"], r["address"], r["auth_method"], r["host_key"] or "-",
                "%.1f ms" % r["latency_ms"] if r["latency_ms"] is not None else "-",
                _yn(r["scp"]), _yn(r["sftp"]), r["version"] or "-",
                _("ok") if r["ok"] and not r["error"] else (r["error"] or _("failed"))]
    if ctx.console is not None:
        from rich.table import Table
        table = Table()
        for h in headers:
            table.add_column(h)
        for r in rows:
            table.add_row(*cells(r))
        ctx.console.print(table)
        return
    for r in rows:
        print("  ".join("%s=%s" % (h, c) for h, c in zip(headers, cells(r))))


def _yn(v):
    return "-" if v is None else (_("yes") if v else _("no"))


def run(ctx):
    config = ctx.config
    if ctx.args.accept_new_key:
        try:
            node = config.node(ctx.args.accept_new_key)
        except KeyError:
            raise DrupgradeError(_("no node named {node} in the configuration").format(
                node=ctx.args.accept_new_key), code=EXIT_USAGE) from None
        transport = Transport.from_config(config)
        ep = Endpoint.of(node)
        fps = hostkeys.accept_new_key(ep, transport.settings.known_hosts)
        for t, fp in fps:
            print(_("node {node}: host key now recorded: {type} {fingerprint}").format(
                node=ep.name, type=t, fingerprint=fp))
        return EXIT_OK
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
