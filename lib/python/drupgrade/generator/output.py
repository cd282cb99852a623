"""Writing a draft into the output directory, all or nothing, never over a person's work.

Everything is written into a private directory beside DIR first (the draft's files, the state
checks, GENERATED.md); only when all of it is there does it take DIR's place (two renames), so an
error leaves DIR as it was. DIR/GENERATED.json records each file written with its sha256: a file
of DIR that is not in the record as written (edited by hand, or made by hand) is never
overwritten without --force, and files made by hand are carried over into the new DIR."""
import hashlib
import json
import os
import shutil
import tempfile

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _

RECORD = "GENERATED.json"
REPORT = "GENERATED.md"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def tree(top):
    """{relative path: sha256} of the files under top (the record left out)."""
    found = {}
    for root, _dirs, names in os.walk(top):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), top)
            if rel != RECORD:
                found[rel] = sha256(os.path.join(root, name))
    return found


def text_of(data):
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def put(top, rel, data):
    path = os.path.join(top, rel)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_of(data))
    os.chmod(path, 0o644)


def stage(out_dir):
    """A new private directory beside out_dir to write the draft into."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    if not os.path.isdir(parent):
        raise DrupgradeError(_("the directory {dir} (where --out {out} goes) does not exist").format(
            dir=parent, out=out_dir), code=EXIT_USAGE, hint=_("create it, or give --out in a directory that exists"))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DrupgradeError(_("--out {out} exists and is not a directory").format(out=out_dir), code=EXIT_USAGE,
                             hint=_("give --out a new or a draft directory"))
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out_dir) + ".generate-", dir=parent)
    os.chmod(tmp, 0o755)  # noqa: S103 - data to review and copy into products/, no secret
    return tmp


def _recorded(out_dir):
    try:
        with open(os.path.join(out_dir, RECORD), encoding="utf-8") as f:
            data = json.load(f)
        return data["files"] if isinstance(data.get("files"), dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def commit(out_dir, tmp, record, force=False):
    """Make tmp (the complete draft) the new out_dir; the record (with the files' hashes) is written
    last. Refuses (exit 2, out_dir untouched) to replace a file of out_dir a person edited or made,
    unless force. Returns {relative path: sha256} of what was written."""
    out_dir = os.path.abspath(out_dir)
    written = tree(tmp)
    if os.path.isdir(out_dir):
        recorded, edited = _recorded(out_dir), []
        for rel, digest in sorted(tree(out_dir).items()):
            ours = recorded.get(rel) == digest
            if rel in written and not ours:
                edited.append(rel)
            elif rel not in written and not ours:
                put_copy = os.path.join(tmp, rel)  # a person's file: carried over
                os.makedirs(os.path.dirname(put_copy), mode=0o755, exist_ok=True)
                shutil.copy2(os.path.join(out_dir, rel), put_copy)
        if edited and not force:
            raise DrupgradeError(
                _("{out} holds files changed or written by hand that the draft would overwrite: {files}").format(
                    out=out_dir, files=", ".join(edited)), code=EXIT_USAGE,
                hint=_("give --force to overwrite them, or --out another directory (their changes are kept "
                       "until then)"))
    put(tmp, RECORD, dict(record, files=written))
    if os.path.isdir(out_dir):
        old = tempfile.mkdtemp(prefix="." + os.path.basename(out_dir) + ".previous-", dir=os.path.dirname(out_dir))
        os.rmdir(old)
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out_dir)
    return written
