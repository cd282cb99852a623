-- Undo of 0006_2.3.0_schema_expand_job_events.sql (drp-migrate --rollback-to 2.2.0): the schema of
-- 2.2.0 again, byte for byte: the trigger goes, every job's creation time is back in jobs.created_at
-- (NOT NULL again, where 2.2.0 keeps it), and job_events goes last. Re-runnable.
DROP TRIGGER IF EXISTS jobs_created_event;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS created_at DATETIME NULL AFTER size_mb;

DELIMITER //
BEGIN NOT ATOMIC
  IF EXISTS (SELECT 1 FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'job_events') THEN
    UPDATE jobs j JOIN job_events e ON e.job_id = j.id AND e.event = 'created'
      SET j.created_at = e.at WHERE j.created_at IS NULL;
  END IF;
END//
DELIMITER ;

ALTER TABLE jobs MODIFY COLUMN created_at DATETIME NOT NULL;
DROP TABLE IF EXISTS job_events;
