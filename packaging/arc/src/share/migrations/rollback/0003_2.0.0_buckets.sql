-- Undo of 0003_2.0.0_buckets.sql (arc-migrate --rollback-to 1.1.0): names "bucket/key" again.
DROP INDEX IF EXISTS idx_objects_tier;
CREATE TABLE objects_old (
  id      INTEGER PRIMARY KEY,
  name    TEXT    NOT NULL UNIQUE,
  size    INTEGER NOT NULL,
  sha256  TEXT    NOT NULL,
  created TEXT    NOT NULL,
  tier    TEXT    NOT NULL DEFAULT 'hot'
);
INSERT INTO objects_old (id, name, size, sha256, created, tier)
  SELECT o.id, b.name || '/' || o.key, o.size, o.sha256, o.created, o.tier
  FROM objects o JOIN buckets b ON b.id = o.bucket_id;
DROP TABLE objects;
ALTER TABLE objects_old RENAME TO objects;
DROP TABLE buckets;
CREATE INDEX idx_objects_tier ON objects (tier);
