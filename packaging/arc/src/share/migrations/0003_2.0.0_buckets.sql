-- arc 2.0.0: buckets get their own table; objects.name "bucket/key" becomes bucket_id + key.
-- SQLite cannot drop or retype a column in place everywhere: the table is rebuilt (new table,
-- copy, drop, rename), all in the one transaction of this migration.
CREATE TABLE buckets (
  id   INTEGER PRIMARY KEY,
  name TEXT    NOT NULL UNIQUE
);
-- ids 1, 2, ... in name order (rowids of a new table, in insert order): the same on every node
INSERT INTO buckets (name)
  SELECT DISTINCT substr(name, 1, instr(name, '/') - 1) FROM objects ORDER BY 1;

CREATE TABLE objects_new (
  id        INTEGER PRIMARY KEY,
  bucket_id INTEGER NOT NULL REFERENCES buckets (id),
  key       TEXT    NOT NULL,
  size      INTEGER NOT NULL,
  sha256    TEXT    NOT NULL,
  created   TEXT    NOT NULL,
  tier      TEXT    NOT NULL DEFAULT 'hot',
  UNIQUE (bucket_id, key)
);
INSERT INTO objects_new (id, bucket_id, key, size, sha256, created, tier)
  SELECT o.id, b.id, substr(o.name, instr(o.name, '/') + 1), o.size, o.sha256, o.created, o.tier
  FROM objects o JOIN buckets b ON b.name = substr(o.name, 1, instr(o.name, '/') - 1);
DROP TABLE objects;
ALTER TABLE objects_new RENAME TO objects;
CREATE INDEX idx_objects_tier ON objects (tier);
