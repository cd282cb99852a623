#!/usr/bin/env bash
# Run tests/unit under each given Python, each in its own venv build/venv-py<ver>, side by side.
#
# Usage: tests/pyversions.sh PYVER...      e.g. tests/pyversions.sh 3.6 3.13
#
# An interpreter is $PYENV_ROOT/versions/<ver>.* (newest patch), else python<ver> on
# PATH; absent ones are skipped with a message. The venv gets the controller's pinned
# dependencies the way lib/bootstrap.sh installs them (offline from build/wheelhouse
# when present), plus packaging/wheels/test-requirements.txt: wheels cached in
# build/wheel-cache/test, downloaded only when the cache lacks them.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
PYENV_DIR=${PYENV_ROOT:-$HOME/.pyenv}
TEST_REQS=$ROOT/packaging/wheels/test-requirements.txt
RUNTIME_REQS=$ROOT/packaging/wheels/requirements.txt
TEST_CACHE=${DRUPGRADE_WHEEL_CACHE:-$ROOT/build/wheel-cache}/test

err() { printf '[pyversions] %s\n' "$*" >&2; }

#######################################
# Outputs: the interpreter for a version like 3.6, or nothing
#######################################
find_python() {
  local ver=$1 dir
  dir=$(find "$PYENV_DIR/versions" -maxdepth 1 -regextype egrep \
        -regex ".*/${ver//./\\.}(\\.[0-9]+)?" 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $dir && -x $dir/bin/python$ver ]]; then
    printf '%s\n' "$dir/bin/python$ver"
  else
    command -v "python$ver" || true
  fi
}

#######################################
# Give a venv pytest: offline from the cache, filling the cache first if needed.
# Arguments: venv
#######################################
add_test_deps() {
  local venv=$1 stamp install
  stamp=$(cat "$TEST_REQS" "$RUNTIME_REQS" | sha256sum | cut -d' ' -f1)
  [[ -f $venv/.test-stamp && $(<"$venv/.test-stamp") == "$stamp" ]] && return 0
  install=("$venv/bin/python" -m pip install -q --disable-pip-version-check --isolated
           --only-binary=:all: --no-index --find-links "$TEST_CACHE"
           -r "$TEST_REQS" -c "$RUNTIME_REQS")
  if ! "${install[@]}" >/dev/null 2>&1; then
    mkdir -p "$TEST_CACHE"
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
      -d "$TEST_CACHE" -r "$TEST_REQS" -c "$RUNTIME_REQS"
    "${install[@]}"
  fi
  printf '%s\n' "$stamp" >"$venv/.test-stamp"
}

#######################################
# Run tests/unit under one Python version.
# Arguments: version
# Returns: 0 passed, 1 failed, 3 skipped (no such interpreter)
#######################################
run_version() {
  local ver=$1 py venv rc=0
  py=$(find_python "$ver")
  if [[ -z $py ]]; then
    echo "SKIP: python $ver not installed"
    return 3
  fi
  venv=$ROOT/build/venv-py$ver
  err "python $ver: $py, venv $venv"
  # The launchers' way to the venv; bootstrap::python exits on failure, so in its own bash.
  DRUPGRADE_PYTHON=$py DRUPGRADE_VENV=$venv \
    bash -c 'set -euo pipefail; source "$1"; bootstrap::python' _ "$ROOT/lib/bootstrap.sh" \
    || return 1
  add_test_deps "$venv" || return 1
  (cd "$ROOT" && PYTHONPATH=$ROOT/lib/python${PYTHONPATH:+:$PYTHONPATH} \
    "$venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider) || rc=$?
  case $rc in
    0) return 0 ;;
    5) err "python $ver: pytest collected no tests in tests/unit"; return 1 ;;
    *) err "python $ver: tests failed (pytest exit $rc)"; return 1 ;;
  esac
}

main() {
  (($# > 0)) || { sed -n '4p' "$0" >&2; return 2; }
  local ver rc failed=() passed=() skipped=() pids=()
  # The versions run side by side (a core each), each into its log, shown in order when it ends.
  for ver in "$@"; do
    run_version "$ver" >"$ROOT/build/pyversions-$ver.log" 2>&1 &
    pids+=("$!")
  done
  for ver in "$@"; do
    rc=0
    wait "${pids[0]}" || rc=$?
    pids=("${pids[@]:1}")
    cat "$ROOT/build/pyversions-$ver.log"
    case $rc in
      0) passed+=("$ver") ;;
      3) skipped+=("$ver") ;;
      *) failed+=("$ver") ;;
    esac
  done
  err "passed: ${passed[*]:-none}; failed: ${failed[*]:-none}; skipped: ${skipped[*]:-none}"
  ((${#failed[@]} == 0))
}

main "$@"
