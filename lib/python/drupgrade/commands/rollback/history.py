"""rollback_tool history: rollback_history and available_backups (design §4.4.3.1)."""
import json

from drupgrade import rollback
from drupgrade.i18n import N_, _

SUMMARY = N_("rollback_history and available_backups")


def add_arguments(parser):
    pass


def run(ctx):
    with rollback.Rollback(ctx) as rb:
        data = rb.catalog.history()
        data["available_backups"] = rb.known_rows()
    if ctx.json:
        print(json.dumps({"rollback_history": data["rollback_history"],
                          "available_backups": data["available_backups"]}, ensure_ascii=False, indent=2))
        return 0
    print(_("rollback history:"))
    if not data["rollback_history"]:
        print("  " + _("no rollback yet"))
    for e in data["rollback_history"]:
        print("  %-13s %-20s %s -> %s  %-7s %-8s %-24s %s" % (
            e["rollback_id"], e["timestamp"], e["from_version"], e["to_version"], e["rollback_type"],
            e["duration"] or "-", e["backup_used"], e["status"]))
    print(_("available backups:"))
    for b in data["available_backups"]:
        print("  %-24s %-9s %-22s %s" % (b["backup_id"], b["version"], b["timestamp"] or "-",
                                         rollback.status_text(b)))
    return 0
