-- Undo of 0007_2.3.0_schema_contract_job_events.sql (drp-migrate --rollback-to): back to the expand
-- half's schema, where 2.2.0 and 2.3.0 run side by side: jobs.created_at again (NULL allowed), filled
-- from job_events, and the trigger that copies 2.2.0's writes. Re-runnable.
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

CREATE TRIGGER IF NOT EXISTS jobs_created_event AFTER INSERT ON jobs FOR EACH ROW
  INSERT IGNORE INTO job_events (job_id, event, at)
    SELECT NEW.id, 'created', NEW.created_at FROM DUAL WHERE NEW.created_at IS NOT NULL;
