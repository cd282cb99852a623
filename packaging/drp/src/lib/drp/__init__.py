"""drp: the reference product that drupgrade upgrades (node side, python3 stdlib only)."""
