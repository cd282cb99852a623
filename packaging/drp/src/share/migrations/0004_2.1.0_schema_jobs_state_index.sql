-- drp 2.1.0: index for the app's per-state queries.
CREATE INDEX IF NOT EXISTS idx_jobs_state_priority ON jobs (state, priority);
