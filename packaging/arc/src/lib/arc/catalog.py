"""The catalog: one SQLite database on the gateway node (python3 stdlib only on nodes).

SQLite DDL is transactional: every migration runs inside one transaction with the row that
records it, so a migration is applied completely or not at all.
"""
import hashlib
import os
import re
import sqlite3

from arc.conf import SHARE
from arc.version import vtuple

MIGRATIONS = os.path.join(SHARE, "migrations")
ROLLBACKS = os.path.join(MIGRATIONS, "rollback")
NAME_RE = re.compile(r"^(\d{4})_(\d+\.\d+\.\d+)_([a-z0-9_]+)\.sql$")
SCHEMA_VERSION = """CREATE TABLE IF NOT EXISTS schema_version (
  seq        INTEGER PRIMARY KEY,
  version    TEXT NOT NULL,
  name       TEXT NOT NULL,
  checksum   TEXT NOT NULL,
  applied_at TEXT NOT NULL
)"""
# table -> ORDER BY of its checksum; which tables exist depends on the schema (workers: live data)
SEED_TABLES = {"objects": "id", "buckets": "id"}


class CatalogError(Exception):
    pass


def connect(path, must_exist=True):
    if must_exist and not os.path.exists(path):
        raise CatalogError("no catalog at %s" % path)
    try:
        conn = sqlite3.connect(path, timeout=15, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 15000")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn
    except sqlite3.Error as e:
        raise CatalogError("%s: %s" % (path, e)) from None


def available():
    out = []
    for fn in sorted(os.listdir(MIGRATIONS)):
        m = NAME_RE.match(fn)
        if m:
            with open(os.path.join(MIGRATIONS, fn), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out.append({"seq": int(m.group(1)), "version": m.group(2), "name": m.group(3),
                        "file": os.path.join(MIGRATIONS, fn), "checksum": digest})
    return out


def package_schema():
    """The schema version this package's migrations lead to (what its programs need)."""
    return max((m["version"] for m in available()), key=vtuple)


def applied(conn):
    conn.execute(SCHEMA_VERSION)
    return {r[0]: {"version": r[1], "name": r[2], "checksum": r[3]}
            for r in conn.execute("SELECT seq, version, name, checksum FROM schema_version ORDER BY seq")}


def schema_version(conn):
    """Highest version all of whose migrations (and all earlier ones) are applied, or None."""
    migs, done, current = available(), applied(conn), None
    for v in sorted({m["version"] for m in migs}, key=vtuple):
        if all(m["seq"] in done for m in migs if vtuple(m["version"]) <= vtuple(v)):
            current = v
        else:
            break
    return current


def run_script(conn, sql, record):
    """sql and the statement that records it in one transaction; rolled back whole on any error."""
    try:
        conn.executescript("BEGIN IMMEDIATE;\n%s\n;%s;\nCOMMIT;" % (sql, record))
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise CatalogError(str(e)) from None


def q(value):
    """A SQL string literal for values we generate."""
    return "'" + str(value).replace("'", "''") + "'"


def rows_text(conn, table):
    lines = []
    for row in conn.execute("SELECT * FROM %s ORDER BY %s" % (table, SEED_TABLES[table])):  # noqa: S608
        lines.append("\t".join("NULL" if v is None else str(v) for v in row))
    return "".join(line + "\n" for line in lines)


def checksums(conn):
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    out = {}
    for table in sorted(SEED_TABLES):
        if table in existing:
            text = rows_text(conn, table)
            out[table] = {"rows": text.count("\n"), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return out
