-- drp 1.5.0: jobs.priority, backfilled from state and size. Both statements are
-- re-runnable: the column is added only once and the backfill is a pure function of the row.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS priority TINYINT NOT NULL DEFAULT 0 AFTER state;

UPDATE jobs SET priority = CASE
    WHEN state = 'failed'  THEN 3
    WHEN state = 'running' THEN 2
    WHEN size_mb >= 500    THEN 1
    ELSE 0 END;
