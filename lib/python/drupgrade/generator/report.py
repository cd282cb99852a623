"""GENERATED.md: what the generator found, what it decided and why, and every point a person must
decide (each with its file and JSON path), for the release engineer who reviews the draft."""


def _list(items, empty="none"):
    return ", ".join("`%s`" % i for i in items) if items else empty


def found(a):
    db, cfg, units, files = a["database"], a["config"], a["units"], a["files"]
    ch = db["changes"]
    lines = ["## What changed from v%s to v%s" % (a["from"], a["to"]), "",
             "### Database (%s)" % db["dialect"],
             "- migrations beyond v%s: %s" % (a["from"], _list(
                 ["%s (%s%s)" % (m["file"], m["kind"], ", rollback " + m["rollback"] if m["rollback"]
                                 else ", no rollback") for m in db["migrations"]])),
             "- schema version: %s -> %s" % (db["schema_version"]["from"], db["schema_version"]["to"]),
             "- tables added: %s; removed: %s" % (_list(ch["tables_added"]), _list(ch["tables_removed"])),
             "- columns added: %s" % _list(["%s.%s %s" % (c["table"], c["column"], c["type"])
                                            for c in ch["columns_added"]]),
             "- columns removed: %s" % _list(["%s.%s %s" % (c["table"], c["column"], c["type"])
                                              for c in ch["columns_removed"]]),
             "- columns changed: %s" % _list(["%s.%s %s -> %s" % (c["table"], c["column"], c["from"]["type"],
                                                                  c["to"]["type"]) for c in ch["columns_changed"]]),
             "- indexes added: %s; removed: %s" % (
                 _list(["%s.%s (%s)" % (i["table"], i["index"], ",".join(i["columns"])) for i in ch["indexes_added"]]),
                 _list(["%s.%s (%s)" % (i["table"], i["index"], ",".join(i["columns"]))
                        for i in ch["indexes_removed"]])),
             "", "### Configuration (%s)" % _list(cfg["declared_in"]),
             "- file: %s (%s) -> %s (%s)%s" % (
                 cfg["files"]["from"]["path"], cfg["files"]["from"]["format"], cfg["files"]["to"]["path"],
                 cfg["files"]["to"]["format"], ", a format change" if cfg["format_change"] else "")
             if cfg["files"]["from"] and cfg["files"]["to"] else "- file: not named by the product's hints",
             "- added: %s" % _list(["%s = %s" % (k, v) for k, v in cfg["added"].items()]),
             "- removed: %s" % _list(cfg["removed"]),
             "- renamed: %s" % _list(["%s -> %s (%s%s)" % (r["from"], r["to"], "a guess: " if r["guess"] else "",
                                                           r["why"]) for r in cfg["renamed"]]),
             "- possible renames not applied: %s" % _list(["%s -> %s (%s)" % (r["from"], r["to"], r["why"])
                                                           for r in cfg["possible_renames"]]),
             "", "### Program files (MANIFEST.sha256)",
             "- added: %s" % _list(files["added"]), "- removed: %s" % _list(files["removed"]),
             "- changed: %s" % _list(files["changed"]),
             "", "### Units and services (the package's unit generator, read as text)",
             "- units of v%s: %s" % (a["to"], _list(["%s (%s)" % (u, ",".join(i["roles"]) or "every node")
                                                     for u, i in a["units"]["to"].items()])),
             "- added: %s; removed: %s" % (_list(units["added"]), _list(units["removed"])),
             "- dependencies added: %s" % _list(["%s %s=%s%s (%s)" % (
                 d["unit"], d["kind"], d["on"], " on " + ",".join(d["roles"]) if d["roles"] else "", d["where"])
                 for d in units["dependencies"]["added"]]),
             "- dependencies removed: %s" % _list(["%s %s=%s (%s)" % (d["unit"], d["kind"], d["on"], d["where"])
                                                   for d in units["dependencies"]["removed"]]),
             "", "### Dependency components"]
    dep = a["dependencies"]
    if not dep["declared"]:
        lines.append("- the product declares no third-party component versions in its packages")
    else:
        lines.append("- declared in %s; changed: %s" % (_list(dep["files"]), _list(
            ["%s %s -> %s" % (c["name"], c["from"], c["to"]) for c in dep["changed"]])))
    return lines


def render(d, written):
    a = d.analysis
    lines = ["# Upgrade draft: %s v%s -> v%s" % (a["product"], a["from"], a["to"]), "",
             "Drafted by `bin/upgrade.sh generate` from `%s` and `%s`. The files are laid out like "
             "`products/%s/`; review them, decide each TODO below, then copy them there "
             "(docs/framework.md, 'The generator')." % (a["packages"]["from"], a["packages"]["to"], a["product"]), ""]
    lines += found(a)
    lines += ["", "## What it decided, and why"] + ["- " + x for x in d.decisions]
    lines += ["", "## Files", ""] + ["- `%s`" % rel for rel in sorted(written)]
    lines += ["", "## TODO: %d point(s) a person must decide" % len(d.todos), "",
              "Each is marked in its file: a JSON file has a top-level `\"TODO\"` list (its schema refuses it, so "
              "`strategies --check` fails until every point is decided and the list removed). The draft's value "
              "is already in place: keep it or change it, then delete the TODO line.", ""]
    for n, t in enumerate(d.todos, 1):
        lines.append("%d. TODO `%s` `%s`: %s. Draft: %s." % (n, t["file"], t["path"] or "-", t["question"],
                                                             t["suggestion"] or "-"))
    return "\n".join(lines) + "\n"
