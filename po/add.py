#!/usr/bin/env python3
"""Add or update zh translations in one po file from a JSON object {msgid: msgstr} on stdin.

  po/add.py po/zh_CN/engine.po < translations.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import msgids  # noqa: E402

HEADER = ('msgid ""\nmsgstr ""\n"Project-Id-Version: drupgrade\\n"\n"MIME-Version: 1.0\\n"\n'
          '"Content-Type: text/plain; charset=UTF-8\\n"\n"Content-Transfer-Encoding: 8bit\\n"\n'
          '"Language: zh_CN\\n"\n')


def main():
    path = sys.argv[1]
    new = json.load(sys.stdin)
    entries = {}
    if os.path.exists(path):
        for msgid, msgstr in _read(path).items():
            entries[msgid] = msgstr
    entries.update(new)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# zh_CN translations: %s\n" % os.path.basename(path)[:-3])
        f.write(HEADER)
        for msgid in sorted(entries):
            f.write("\nmsgid %s\nmsgstr %s\n" % (msgids._po_quote(msgid), msgids._po_quote(entries[msgid])))
    return 0


def _read(path):
    saved = msgids.PO_DIR
    msgids.PO_DIR = os.path.dirname(os.path.abspath(path))
    try:
        only = {}
        entries, _dups = msgids.po_entries()
        # po_entries reads the whole folder; keep the entries of this file only.
        text = open(path, encoding="utf-8").read()
        for msgid, msgstr in entries.items():
            if "msgid %s\n" % msgids._po_quote(msgid) in text:
                only[msgid] = msgstr
        return only
    finally:
        msgids.PO_DIR = saved


if __name__ == "__main__":
    sys.exit(main())
