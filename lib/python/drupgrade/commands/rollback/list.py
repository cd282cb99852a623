"""rollback_tool list: the available backups with version, time, status (verified on the nodes,
read-only) and the space each holds there."""
import json

from drupgrade import rollback
from drupgrade.errors import EXIT_LOCKED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.transport.progress import human_size

SUMMARY = N_("available backups with version, time, status and size")


def add_arguments(parser):
    parser.add_argument("--install-tool", dest="install_tool", action="store_true",
                        help=_("install this controller's node tool on every node first (it changes the nodes' "
                               "tool directory), so that the backups can be checked there"))


def run(ctx):
    with rollback.Rollback(ctx) as rb:
        try:
            lock = rb.lock("list")
        except DrupgradeError as e:
            if e.code != EXIT_LOCKED or ctx.args.install_tool:
                raise
            lock = None  # a run is going on: show what the controller knows, touch no node
            rollback.out("warning", _("another run holds the lock: the backups were not verified on the nodes"))
        try:
            if ctx.args.install_tool and rb.catalog.backup_ids():
                rb.install_tools()
            rows = rb.list_rows(verify=lock is not None)
        finally:
            if lock is not None:
                lock.release()
        latest = rb.catalog.latest()
    if ctx.json:
        print(json.dumps({"available_backups": rows, "latest": latest}, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(_("no backups yet: the upgrade makes one before every hop"))
        return 0
    print("%-24s %-9s %-22s %-22s %-9s %s" % (_("BACKUP"), _("VERSION"), _("TAKEN"), _("BEFORE"), _("SIZE"),
                                              _("STATUS")))
    for row in rows:
        mark = " *" if row["backup_id"] == latest else ""
        size = human_size(row["size_bytes"]) if row.get("size_bytes") is not None else "-"
        print("%-24s %-9s %-22s %-22s %-9s %s%s" % (row["backup_id"], row["version"], row["timestamp"] or "-",
                                                    "%s -> %s" % (row["version"], row["version_to"]), size,
                                                    rollback.status_text(row), mark))
    if latest:
        print(_("* latest: the state before the last upgrade run; roll back to it with: "
                "bin/rollback_tool auto latest"))
    return 0
