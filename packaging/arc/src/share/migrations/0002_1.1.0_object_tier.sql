-- arc 1.1.0: objects get a storage tier, backfilled from their size (512 KiB and up: cold).
ALTER TABLE objects ADD COLUMN tier TEXT NOT NULL DEFAULT 'hot';
UPDATE objects SET tier = CASE WHEN size >= 524288 THEN 'cold' ELSE 'hot' END;
CREATE INDEX idx_objects_tier ON objects (tier);
