-- drp 2.3.0, contract half (online: removals; drp-migrate --online contract runs it once every node
-- runs 2.3.0): the trigger of the expand half and the column jobs.created_at go, job_events keeps
-- each job's creation time. Re-runnable. Undone by rollback/0007_2.3.0_schema_contract_job_events.sql.
DROP TRIGGER IF EXISTS jobs_created_event;
ALTER TABLE jobs DROP COLUMN IF EXISTS created_at;
