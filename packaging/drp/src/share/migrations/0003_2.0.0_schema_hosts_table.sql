-- drp 2.0.0: host names move out of jobs into their own table (jobs.host -> hosts, jobs.host_id).
-- MariaDB DDL is not transactional, so each step checks what is already done:
-- a run that died anywhere in here can be run again.
CREATE TABLE IF NOT EXISTS hosts (
  id   INT         NOT NULL PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  site VARCHAR(32) NOT NULL DEFAULT 'primary',
  UNIQUE KEY uk_hosts_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS host_id INT NULL AFTER name;

DELIMITER //
BEGIN NOT ATOMIC
  IF EXISTS (SELECT 1 FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'jobs' AND COLUMN_NAME = 'host') THEN
    -- ids from the sorted names, not AUTO_INCREMENT: the same on every run and every node
    INSERT IGNORE INTO hosts (id, name)
      SELECT ROW_NUMBER() OVER (ORDER BY host), host FROM (SELECT DISTINCT host FROM jobs) d;
    UPDATE jobs j JOIN hosts h ON h.name = j.host SET j.host_id = h.id;
  END IF;
END//
DELIMITER ;

ALTER TABLE jobs MODIFY COLUMN host_id INT NOT NULL;
ALTER TABLE jobs DROP COLUMN IF EXISTS host;
