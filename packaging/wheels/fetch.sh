#!/usr/bin/env bash
# Fill DEST with every wheel the controller needs on CPython 3.6-3.13 x 86_64/aarch64, then prove it.
#
# Usage: packaging/wheels/fetch.sh DEST
#
# The only build step that needs a package registry. Wheels are cached under
# build/wheel-cache/runtime (override: DRUPGRADE_WHEEL_CACHE), so a warm run makes no
# network request. DEST is replaced only when every target checks out; it also gets
# requirements.txt and pip.txt, the files lib/bootstrap.sh installs from.
# Environment: PYTHON (default python3, needs pip >= 20.3), FETCH_PIP_ARGS (extra
# options for the downloads, e.g. "--index-url https://mirror/simple").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-python3}
CACHE=${DRUPGRADE_WHEEL_CACHE:-$ROOT/build/wheel-cache}/runtime
# The lowest patch level each line supports: 3.6.8 is CentOS 7's (rich 12.6 needs >= 3.6.3);
# cryptography excludes 3.9.0 and 3.9.1.
TARGET_PYTHONS=(3.6.8 3.7.0 3.8.0 3.9.2 3.10.0 3.11.0 3.12.0 3.13.0)
TARGET_MACHINES=(x86_64 aarch64)
REQS=("$HERE/requirements.txt" "$HERE/pip.txt")
# Pins PyPI has no binary wheel for on some target (pyrsistent 0.18.0: none for cp36
# aarch64). Its C extension is optional, so it is built once, as pure Python, from sdist.
PURE_BUILDS=(pyrsistent==0.18.0)

err() { printf '[fetch] %s\n' "$*" >&2; }
die() { err "error: $*"; exit 1; }

# Pip without this machine's pip.conf, constraints or extra indexes: only the registry.
pip_() {
  local extra=()
  [[ -n ${PIP_CERT:-} ]] && extra+=(--cert "$PIP_CERT")
  # shellcheck disable=SC2206  # FETCH_PIP_ARGS is a word list on purpose
  [[ -n ${FETCH_PIP_ARGS:-} ]] && extra+=($FETCH_PIP_ARGS)
  "$PYTHON" -m pip "$1" --isolated --disable-pip-version-check "${extra[@]}" "${@:2}"
}

wheelhouse_py() { "$PYTHON" "$HERE/wheelhouse.py" "$@"; }

#######################################
# Build a pure-Python wheel of NAME==VERSION into the cache (once).
# Arguments: NAME==VERSION
#######################################
build_pure() {
  local name=${1%%==*} version=${1##*==} src
  compgen -G "$CACHE/pure/${name}-${version}-py3-none-any.whl" >/dev/null && return 0
  err "building a pure-Python wheel of $1"
  src=$(mktemp -d)
  pip_ download -q --no-deps --no-binary=:all: -d "$src" "$1" || die "cannot download the sdist of $1"
  tar -xzf "$src/$name-$version.tar.gz" -C "$src"
  # The only C extension is declared under this test; without it the wheel is pure.
  sed -i "s/^if platform.python_implementation() == 'CPython':/if False:/" \
    "$src/$name-$version/setup.py"
  pip_ wheel -q --no-deps -w "$CACHE/pure" "$src/$name-$version" || die "cannot build $1"
  rm -rf "$src"
  compgen -G "$CACHE/pure/${name}-${version}-py3-none-any.whl" >/dev/null \
    || die "building $1 did not give a pure wheel"
}

# Options that make pip pick wheels for one target instead of for this host.
target_opts() {
  local python=$1 machine=$2 mm abi
  mm=$(cut -d. -f1,2 <<<"$python")
  abi=cp${mm/./}
  [[ $mm == 3.6 || $mm == 3.7 ]] && abi+=m
  printf '%s\n' --only-binary=:all: --no-deps --platform "manylinux2014_$machine" \
    --python-version "$python" --implementation cp --abi "$abi"
}

#######################################
# Copy the wheels of one target into DIR: from the cache, downloading what is missing.
# Arguments: python machine DIR
#######################################
fetch_target() {
  local python=$1 machine=$2 dir=$3 list opts
  list=$WORK/$python-$machine.txt
  wheelhouse_py filter --python "$python" --machine "$machine" \
    "${PURE_BUILDS[@]/#/--exclude=}" "${REQS[@]}" >"$list"
  mapfile -t opts < <(target_opts "$python" "$machine")
  if ! pip_ download -q --no-index --find-links "$CACHE" -d "$dir" -r "$list" "${opts[@]}" \
      >/dev/null 2>&1; then
    err "downloading for python $python $machine"
    pip_ download -q -d "$CACHE" -r "$list" "${opts[@]}" \
      || die "no wheel for python $python $machine (the package is named above)"
    pip_ download -q --no-index --find-links "$CACHE" -d "$dir" -r "$list" "${opts[@]}" \
      || die "the cache lacks a wheel for python $python $machine"
  fi
}

main() {
  [[ $# -eq 1 ]] || { sed -n '2,4p' "$0" >&2; exit 2; }
  local dest=$1 stage python machine pure failed=()
  "$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip"
  mkdir -p "$CACHE/pure" "$(dirname "$dest")"
  WORK=$(mktemp -d)
  stage=$(mktemp -d "$(dirname "$dest")/.wheelhouse.XXXXXX")
  trap 'rm -rf "$WORK" "$stage"' EXIT

  for pure in "${PURE_BUILDS[@]}"; do
    build_pure "$pure"
    cp "$CACHE/pure/${pure%%==*}-${pure##*==}-py3-none-any.whl" "$stage/"
  done
  for python in "${TARGET_PYTHONS[@]}"; do
    for machine in "${TARGET_MACHINES[@]}"; do
      fetch_target "$python" "$machine" "$stage"
    done
  done
  cp "${REQS[@]}" "$stage/"

  # Completeness, from the staged wheels alone: pip's own pick per target, and the
  # closure of every pin's declared dependencies under that target's markers.
  for python in "${TARGET_PYTHONS[@]}"; do
    for machine in "${TARGET_MACHINES[@]}"; do
      mapfile -t opts < <(target_opts "$python" "$machine")
      wheelhouse_py filter --python "$python" --machine "$machine" "${REQS[@]}" \
        >"$WORK/all.txt"
      pip_ download -q --no-index --find-links "$stage" -d "$WORK/check" \
        -r "$WORK/all.txt" "${opts[@]}" >"$WORK/check.log" 2>&1 \
        || { cat "$WORK/check.log" >&2; failed+=("python $python $machine"); }
      rm -rf "$WORK/check"
    done
  done
  ((${#failed[@]} == 0)) || die "wheelhouse incomplete for: ${failed[*]}"
  wheelhouse_py verify "${TARGET_PYTHONS[@]/#/--python=}" "${TARGET_MACHINES[@]/#/--machine=}" \
    "$stage" "${REQS[@]}" || die "wheelhouse incomplete (each missing piece is named above)"

  (cd "$stage" && sha256sum -- *.whl >SHA256SUMS)
  chmod 755 "$stage"
  rm -rf "$dest"
  mv -T "$stage" "$dest"
  err "$dest: $(find "$dest" -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1)," \
    "complete for CPython ${TARGET_PYTHONS[*]%.*} on ${TARGET_MACHINES[*]}"
}

main "$@"
