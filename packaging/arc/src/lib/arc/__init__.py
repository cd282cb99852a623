"""arc: a small archive service (gateway + workers, SQLite catalog), the second product drupgrade upgrades."""
