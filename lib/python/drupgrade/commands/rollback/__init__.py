"""Commands of bin/rollback_tool."""
