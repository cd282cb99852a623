#!/usr/bin/env bash
# Start the controller: make sure the private venv exists (offline), then run a tool.
# Usage: lib/launch.sh upgrade|rollback ARGS...
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/bootstrap.sh
source "$ROOT/lib/bootstrap.sh"
bootstrap::python
export DRUPGRADE_ROOT="$ROOT"
export PYTHONPATH="$ROOT/lib/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$DRUPGRADE_VENV/bin/python" -m drupgrade "$@"
