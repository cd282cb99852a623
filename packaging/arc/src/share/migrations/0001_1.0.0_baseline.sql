-- arc 1.0.0 baseline catalog. Runs in one transaction with its schema_version row (arc-migrate).
CREATE TABLE objects (
  id      INTEGER PRIMARY KEY,
  name    TEXT    NOT NULL UNIQUE,   -- "bucket/key"
  size    INTEGER NOT NULL,
  sha256  TEXT    NOT NULL,
  created TEXT    NOT NULL
);

-- Written by the gateway when a worker reports (live data: not in the checksums).
CREATE TABLE workers (
  node    TEXT    PRIMARY KEY,
  version TEXT    NOT NULL,
  beats   INTEGER NOT NULL DEFAULT 0,
  seen    TEXT    NOT NULL
);
