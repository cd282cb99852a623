#!/usr/bin/env bash
# Start the controller: make sure the private venv exists (offline), then run a tool.
# Usage: lib/launch.sh upgrade|rollback ARGS...
set -euo pipefail
# The caller's Python settings never reach our interpreters: a PYTHONPATH directory holding its own
# jsonschema or paramiko would come before the venv's pinned packages, in a root process.
unset PYTHONPATH PYTHONHOME
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/bootstrap.sh
source "$ROOT/lib/bootstrap.sh"
bootstrap::python
export DRUPGRADE_ROOT="$ROOT"
# -I (isolated): no PYTHON* variables, no user site-packages, not even the current directory on
# sys.path; our package goes first explicitly. Still one interpreter start.
exec "$DRUPGRADE_VENV/bin/python" -I -c 'import runpy, sys
sys.path.insert(0, sys.argv.pop(1))
runpy.run_module("drupgrade", run_name="__main__", alter_sys=True)' "$ROOT/lib/python" "$@"
