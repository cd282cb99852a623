-- drp 2.3.0, expand half (online: only additions 2.2.0 tolerates; drp-migrate --online expand runs it
-- before any node moves to 2.3.0): a job's creation time is also kept in the new table job_events
-- (job_id, 'created', at), backfilled from jobs.created_at; jobs.created_at may now be NULL (2.3.0
-- no longer writes it), and a trigger copies each new job's created_at (2.2.0 still writes it) into
-- job_events, so both versions see every job while they run side by side. The contract half
-- (0007_2.3.0_schema_contract_job_events.sql) drops the column once every node runs 2.3.0.
-- MariaDB DDL is not transactional, so each step checks what is already done: a run that died
-- anywhere in here can be run again. Undone by rollback/0006_2.3.0_schema_expand_job_events.sql.
CREATE TABLE IF NOT EXISTS job_events (
  job_id INT         NOT NULL,
  event  VARCHAR(16) NOT NULL,
  at     DATETIME    NOT NULL,
  PRIMARY KEY (job_id, event),
  KEY idx_job_events_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

DELIMITER //
BEGIN NOT ATOMIC
  IF EXISTS (SELECT 1 FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'jobs' AND COLUMN_NAME = 'created_at') THEN
    INSERT IGNORE INTO job_events (job_id, event, at) SELECT id, 'created', created_at FROM jobs
      WHERE created_at IS NOT NULL;
  END IF;
END//
DELIMITER ;

ALTER TABLE jobs MODIFY COLUMN IF EXISTS created_at DATETIME NULL;

CREATE TRIGGER IF NOT EXISTS jobs_created_event AFTER INSERT ON jobs FOR EACH ROW
  INSERT IGNORE INTO job_events (job_id, event, at)
    SELECT NEW.id, 'created', NEW.created_at FROM DUAL WHERE NEW.created_at IS NOT NULL;
