"""upgrade.sh generate --product NAME --from PKG_OLD --to PKG_NEW --out DIR [--force]: the draft of
the new version's upgrade data (design §4.8.3.1): what changed between the two packages, a strategy,
a config mapping, the migration list, the matrix entries, the state checks and GENERATED.md (every
point a person must decide marked TODO). Needs no configuration file and no node; --json prints the
analysis and the decisions. docs/framework.md, 'The generator'."""
import json
import os
import shutil

from drupgrade import product
from drupgrade.generator import analyze, checks, draft, output, report, source
from drupgrade.i18n import N_, _

SUMMARY = N_("draft a new version's upgrade from two packages of a product: strategy, config mapping, "
             "migrations, state checks and GENERATED.md with the points to decide")


def add_arguments(parser):
    parser.add_argument("--product", required=True, metavar="NAME", help=_("the product (products/<name>/)"))
    parser.add_argument("--from", dest="old", required=True, metavar="PKG_OLD",
                        help=_("the older version's package (NAME.tar.gz as built, or its unpacked directory)"))
    parser.add_argument("--to", dest="new", required=True, metavar="PKG_NEW",
                        help=_("the newer version's package (NAME.tar.gz as built, or its unpacked directory)"))
    parser.add_argument("--out", required=True, metavar="DIR",
                        help=_("the directory the draft is written into (laid out like products/<name>/)"))
    parser.add_argument("--force", action="store_true",
                        help=_("overwrite files of DIR that were changed or written by hand"))


def _check_todos(tmp, results):
    found = []
    for path, todos in results:
        rel = os.path.relpath(path, tmp) if os.path.isabs(path) else path
        for t in todos:
            if isinstance(t, dict):
                found.append({"file": rel, "path": t.get("path", ""), "question": t.get("question", str(t)),
                              "suggestion": t.get("suggestion", "")})
            else:
                found.append({"file": rel, "path": "", "question": str(t), "suggestion": ""})
    return found


def generate(name, old_path, new_path, out_dir, force=False):
    """(analysis, Draft, {file: sha256}) of the draft written into out_dir."""
    product.load(name)  # an unknown product is exit 2 before any package is opened
    old, new = source.open_pair(old_path, new_path, product_name=name)
    tmp = None
    try:
        analysis = analyze.analyze(old, new)
        d = draft.build(analysis, old, new)
        tmp = output.stage(out_dir)
        for rel, data in sorted(d.files.items()):
            output.put(tmp, rel, data)
        d.todos += _check_todos(tmp, checks.write(tmp, analysis, new))
        output.put(tmp, output.REPORT, report.render(d, set(output.tree(tmp)) | {output.REPORT}))
        written = output.commit(out_dir, tmp, {"product": name, "from": old.version, "to": new.version,
                                               "todos": d.todos}, force)
        tmp = None
        return analysis, d, written
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        old.close()
        new.close()


def run(ctx):
    a = ctx.args
    analysis, d, written = generate(a.product, a.old, a.new, a.out, a.force)
    if ctx.json:
        print(json.dumps({"out": os.path.abspath(a.out), "analysis": analysis, "decisions": d.decisions,
                          "todos": d.todos, "files": written}, ensure_ascii=False, indent=2))
        return 0
    print(_("draft of {product} v{old} -> v{new} written into {out}: {files} files, {todos} points to decide "
            "(TODO)").format(product=a.product, old=analysis["from"], new=analysis["to"], out=os.path.abspath(a.out),
                             files=len(written), todos=len(d.todos)))
    for t in d.todos:
        print("  TODO %s %s: %s" % (t["file"], t["path"] or "-", t["question"]))
    print(_("read {file} first: what was found, what was decided and why").format(
        file=os.path.join(os.path.abspath(a.out), output.REPORT)))
    return 0
