"""rollback_tool list: the available backups with version, time and status (verified on the nodes)."""
import json

from drupgrade import rollback
from drupgrade.errors import EXIT_LOCKED, DrupgradeError
from drupgrade.i18n import N_, _

SUMMARY = N_("available backups with version, time and status")


def add_arguments(parser):
    pass


def run(ctx):
    rb = rollback.Rollback(ctx)
    try:
        try:
            lock = rb.lock("list")
        except DrupgradeError as e:
            if e.code != EXIT_LOCKED:
                raise
            lock = None  # a run is going on: show what the controller knows, touch no node
            rollback.out("warning", _("another run holds the lock: the backups were not verified on the nodes"))
        try:
            rows = rb.list_rows(verify=lock is not None)
        finally:
            if lock is not None:
                lock.release()
        latest = rb.catalog.latest()
    finally:
        rb.close()
    if ctx.json:
        print(json.dumps({"available_backups": rows, "latest": latest}, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(_("no backups yet: the upgrade makes one before every hop"))
        return 0
    print("%-24s %-9s %-22s %-22s %s" % (_("BACKUP"), _("VERSION"), _("TAKEN"), _("BEFORE"), _("STATUS")))
    for row in rows:
        status = rollback.status_text(row)
        mark = " *" if row["backup_id"] == latest else ""
        print("%-24s %-9s %-22s %-22s %s%s" % (row["backup_id"], row["version"], row["timestamp"] or "-",
                                               "%s -> %s" % (row["version"], row["version_to"]), status, mark))
    if latest:
        print(_("* latest: the state before the last upgrade run; roll back to it with: "
                "bin/rollback_tool auto latest"))
    return 0
