-- Lab seed data for the 1.0.0 baseline schema (install then migrates it to the package's
-- version, so every version starts from the same rows). Deterministic, re-runnable.
INSERT IGNORE INTO jobs (id, name, host, state, size_mb, created_at)
  SELECT seq,
         CONCAT('job-', LPAD(seq, 5, '0')),
         CONCAT('host-', LPAD(seq MOD 97, 3, '0')),
         ELT(1 + seq MOD 4, 'new', 'running', 'done', 'failed'),
         (seq * 7919) MOD 1000,
         TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq MINUTE
  FROM seq_1_to_10000;

INSERT IGNORE INTO settings (k, v)
  SELECT CONCAT('setting.', LPAD(seq, 2, '0')), UPPER(SHA2(CONCAT('drp-setting-', seq), 256))
  FROM seq_1_to_20;
