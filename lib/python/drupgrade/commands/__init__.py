"""Command modules, one folder per tool (upgrade.sh, rollback_tool), one file per command."""
