-- drp 2.2.0 data upgrade: state 'done' is now 'completed'; job names use 'job/NNNNN'.
-- Both rewrites touch only rows still in the old form, so a re-run changes nothing.
UPDATE jobs SET state = 'completed' WHERE state = 'done';
UPDATE jobs SET name = CONCAT('job/', SUBSTRING(name, 5)) WHERE name LIKE 'job-%';
UPDATE settings SET v = LOWER(v) WHERE v <> LOWER(v);
