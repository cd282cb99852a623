"""Backup manifests (design §4.4.1.3) as the controller receives them: read from a node with a size
cap, checked against schemas/backup_manifest.json when collect_manifest copies them and again
whenever the rollback catalogue loads its copies. A manifest that fails is reported (what is wrong,
which file) and never used.
"""
import json
import re

import jsonschema

from drupgrade import config, safetext
from drupgrade.i18n import _

# A manifest (or database_checksums.json) is a few KB. A node's JSON file is read with `head -c`:
# nothing beyond this reaches the controller, and a longer file is refused as a whole.
MAX_BYTES = 1 << 20
BACKUP_ID = re.compile(r"^backup_[0-9]{8}_[0-9]{6}$")
_validator = []


def _schema():
    if not _validator:
        _validator.append(jsonschema.Draft7Validator(config.load_schema("backup_manifest")))
    return _validator[0]


def problem(data, backup_id=None):
    """None when data is a usable manifest (of backup_id), else what is wrong with it."""
    if not isinstance(data, dict):
        return _("not a JSON object")
    errors = sorted(_schema().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        what = config.expected(err)
        if err.validator not in ("required", "additionalProperties", "propertyNames"):
            what = _("bad value {value!r}: {expected}").format(value=err.instance, expected=what)
        where = "/" + "/".join(str(p) for p in err.absolute_path)
        return safetext.clean("%s: %s" % (where, what), one_line=True)[:300]
    if backup_id is not None and data["backup_id"] != backup_id:
        return _("it names another backup ({other})").format(other=data["backup_id"])
    return None


def too_large():
    return _("larger than {limit} bytes: not read").format(limit=MAX_BYTES)


def parse(text, backup_id=None):
    """(manifest, None), or (None, why) for the text of a manifest."""
    try:
        data = json.loads(text)
    except ValueError as e:
        return None, _("not valid JSON ({detail})").format(detail=safetext.clean(str(e), one_line=True))
    why = problem(data, backup_id)
    return (None, why) if why else (data, None)


def load(path, backup_id=None):
    """(manifest, None), or (None, why) for the controller's copy at path."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        return None, _("cannot be read ({detail})").format(detail=e.strerror or e)
    if len(raw) > MAX_BYTES:
        return None, too_large()
    return parse(raw.decode("utf-8", "replace"), backup_id)


def read_remote(transport, node, path, timeout=60):
    """(text, None), or (None, why) for a JSON file on a node, read with `head -c` (capped)."""
    res = transport.run(node, ["head", "-c", str(MAX_BYTES + 1), "--", path], timeout=timeout)
    if res.rc != 0:
        return None, _("cannot be read (exit code {rc}: {detail})").format(
            rc=res.rc, detail=safetext.clean(res.stderr.strip(), one_line=True)[-200:])
    if len(res.stdout.encode("utf-8", "replace")) > MAX_BYTES:
        return None, too_large()
    return res.stdout, None
