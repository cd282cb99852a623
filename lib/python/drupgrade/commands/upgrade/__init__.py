"""Commands of bin/upgrade.sh."""
