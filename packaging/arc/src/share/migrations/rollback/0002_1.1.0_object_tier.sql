-- Undo of 0002_1.1.0_object_tier.sql (arc-migrate --rollback-to 1.0.0): the table as 1.0.0 has it.
DROP INDEX IF EXISTS idx_objects_tier;
CREATE TABLE objects_old (
  id      INTEGER PRIMARY KEY,
  name    TEXT    NOT NULL UNIQUE,
  size    INTEGER NOT NULL,
  sha256  TEXT    NOT NULL,
  created TEXT    NOT NULL
);
INSERT INTO objects_old (id, name, size, sha256, created) SELECT id, name, size, sha256, created FROM objects;
DROP TABLE objects;
ALTER TABLE objects_old RENAME TO objects;
