-- drp 2.3.0: a job's creation time moves out of jobs into the new table job_events
-- (jobs.created_at -> job_events row (job_id, 'created', at)); later releases add more events.
-- MariaDB DDL is not transactional, so each step checks what is already done: a run that
-- died anywhere in here can be run again. Undone by rollback/0006_2.3.0_schema_job_events.sql.
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
    INSERT IGNORE INTO job_events (job_id, event, at) SELECT id, 'created', created_at FROM jobs;
  END IF;
END//
DELIMITER ;

ALTER TABLE jobs DROP COLUMN IF EXISTS created_at;
