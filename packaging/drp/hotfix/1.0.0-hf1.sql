-- drp 1.0.0-hf1: a field hot-fix that back-ported 1.5.0's jobs.priority column to 1.0.0, with
-- 1.5.0's own definition (migration 0002), so that the scheduler fix of 1.5.0 could run early.
-- Run on the DB primary (it replicates): mariadb drp < 1.0.0-hf1.sql
-- Its effect on an upgrade (products/drp/compat.json, docs/upgrade.md "Planning: compatibility
-- checks and fallback"): the jumps from 1.0.0 are certified from the released 1.0.0 schema only
-- (check drp_schema_1_0_0_jump fails), while 1.5.0's migration 0002 adds the column IF NOT EXISTS
-- and backfills every row (check drp_schema_1_0_0 tolerates it): `plan` falls back to the
-- progressive path, whose end state is that of an upgrade without the hot-fix.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS priority TINYINT NOT NULL DEFAULT 0 AFTER state;
