-- drp 1.0.0 baseline schema. Every statement is re-runnable (IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS jobs (
  id         INT          NOT NULL PRIMARY KEY,
  name       VARCHAR(64)  NOT NULL,
  host       VARCHAR(64)  NOT NULL,
  state      VARCHAR(16)  NOT NULL,
  size_mb    INT          NOT NULL,
  created_at DATETIME     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS settings (
  k VARCHAR(64)  NOT NULL PRIMARY KEY,
  v VARCHAR(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Secrets are stored encrypted by KMC; the app decrypts them through KMC.
CREATE TABLE IF NOT EXISTS secrets (
  name       VARCHAR(64) NOT NULL PRIMARY KEY,
  ciphertext TEXT        NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Written by drp-app on every node (not seed data: excluded from checksums).
CREATE TABLE IF NOT EXISTS app_heartbeat (
  node       VARCHAR(64) NOT NULL PRIMARY KEY,
  version    VARCHAR(16) NOT NULL,
  beats      BIGINT      NOT NULL DEFAULT 0,
  updated_at DATETIME    NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
