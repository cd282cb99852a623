#!/usr/bin/env python3
"""Find every msgid the code uses and check po/zh_CN/*.po translates it.

  po/msgids.py            list problems (exit 1 if any)
  po/msgids.py --stubs    print PO entries for the missing msgids, to fill in
"""
import ast
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = os.path.join(TOP, "lib", "python", "drupgrade")
PO_DIR = os.path.join(TOP, "po", "zh_CN")
MARKERS = ("_", "N_")


def code_msgids():
    """{msgid: [file:line]} and a list of calls whose argument is not a literal."""
    found, bad = {}, []
    for dirpath, _dirs, files in os.walk(CODE):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in MARKERS and node.args):
                    arg = node.args[0]
                    where = "%s:%d" % (os.path.relpath(path, TOP), node.lineno)
                    constant = getattr(ast, "Constant", ())  # 3.8+: literals are Constant; 3.6/3.7: Str
                    value = arg.value if isinstance(arg, constant) else getattr(arg, "s", None)
                    if isinstance(value, str):
                        found.setdefault(value, []).append(where)
                    elif isinstance(arg, (ast.JoinedStr, ast.BinOp)):
                        bad.append(where)  # built text can never match a catalog entry
    return found, bad


def _unquote(s):
    return ast.literal_eval(s)


def po_entries():
    """{msgid: msgstr} over every po file, plus duplicate msgids."""
    entries, dups = {}, []
    for name in sorted(os.listdir(PO_DIR)):
        if not name.endswith(".po"):
            continue
        with open(os.path.join(PO_DIR, name), encoding="utf-8") as f:
            text = f.read()
        for block in re.split(r"\n\s*\n", text):
            fuzzy = "#, fuzzy" in block
            m = re.search(r'^msgid ((?:"(?:[^"\\]|\\.)*"\s*)+)msgstr ((?:"(?:[^"\\]|\\.)*"\s*)+)',
                          block, re.M)
            if not m:
                continue
            msgid = "".join(_unquote(p) for p in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(1)))
            msgstr = "".join(_unquote(p) for p in re.findall(r'"(?:[^"\\]|\\.)*"', m.group(2)))
            if not msgid:
                continue
            if msgid in entries:
                dups.append(msgid)
            entries[msgid] = "" if fuzzy else msgstr
    return entries, dups


def placeholders(s):
    return sorted(set(re.findall(r"\{[a-z_]+[^}]*\}|%\([a-z_]+\)[sdr]|%[sdr]", s)))


def problems():
    used, bad = code_msgids()
    po, dups = po_entries()
    out = ["%s: _() of a built string (f-string, + or %%, a call) cannot be translated" % w for w in bad]
    out += ["duplicate msgid in po/zh_CN: %r" % d for d in dups]
    for msgid, where in sorted(used.items()):
        zh = po.get(msgid)
        if not zh:
            out.append("%s: no zh translation for %r" % (where[0], msgid))
        elif placeholders(zh) != placeholders(msgid):
            out.append("%s: placeholders differ in zh for %r" % (where[0], msgid))
    return out, used, po


def main():
    out, used, po = problems()
    if "--stubs" in sys.argv:
        for msgid, where in sorted(used.items()):
            if not po.get(msgid):
                print("#: %s\nmsgid %s\nmsgstr \"\"\n" % (" ".join(where), _po_quote(msgid)))
        return 0
    for line in out:
        print(line)
    return 1 if out else 0


def _po_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


if __name__ == "__main__":
    sys.exit(main())
