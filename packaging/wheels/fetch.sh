#!/usr/bin/env bash
# Fill DEST with every wheel the controller needs on CPython 3.6-3.13 x 86_64/aarch64, then prove it.
#
# Usage: packaging/wheels/fetch.sh DEST
#
# The only build step that needs a package registry. Wheels are cached under
# build/wheel-cache/runtime (override: DRUPGRADE_WHEEL_CACHE), so a warm run makes no
# network request. DEST is replaced only when every target checks out; it also gets
# requirements.txt and pip.txt with a --hash for every wheel of each pin, and SHA256SUMS of
# every file: lib/bootstrap.sh checks SHA256SUMS, then installs with pip --require-hashes.
# Environment: PYTHON (default python3, needs pip >= 21.1), FETCH_PIP_ARGS (extra
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
  compgen -G "$CACHE/${name}-${version}-py3-none-any.whl" >/dev/null && return 0
  err "building a pure-Python wheel of $1"
  src=$WORK/sdist-$name
  pip_ download -q --no-deps --no-binary=:all: -d "$src" "$1" || die "cannot download the sdist of $1"
  tar -xzf "$src/$name-$version.tar.gz" -C "$src"
  # The only C extension is declared under this test; without it the wheel is pure.
  sed -i "s/^if platform.python_implementation() == 'CPython':/if False:/" \
    "$src/$name-$version/setup.py"
  pip_ wheel -q --no-deps -w "$CACHE" "$src/$name-$version" || die "cannot build $1"
  compgen -G "$CACHE/${name}-${version}-py3-none-any.whl" >/dev/null \
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
# Put the wheels of one target into STAGE: from the cache, downloading what it lacks.
# Arguments: python machine
#######################################
fetch_target() {
  local python=$1 machine=$2 list opts
  wheelhouse_py copy --python "$python" --machine "$machine" "$CACHE" "$STAGE" "${REQS[@]}" \
    2>/dev/null && return 0
  err "downloading for python $python $machine"
  list=$WORK/$python-$machine.txt
  wheelhouse_py filter --python "$python" --machine "$machine" \
    "${PURE_BUILDS[@]/#/--exclude=}" "${REQS[@]}" >"$list"
  mapfile -t opts < <(target_opts "$python" "$machine")
  pip_ download -q -d "$CACHE" -r "$list" "${opts[@]}" \
    || die "no wheel for python $python $machine (the package is named above)"
  wheelhouse_py copy --python "$python" --machine "$machine" "$CACHE" "$STAGE" "${REQS[@]}" \
    || die "the cache lacks a wheel for python $python $machine"
}

#######################################
# Resolve one target's pins with pip from STAGE alone (no index).
# Arguments: python machine
# Outputs: pip's complaint to stderr, and the file $WORK/failed
#######################################
check_target() {
  local python=$1 machine=$2 dir=$WORK/check-$1-$2 opts
  mapfile -t opts < <(target_opts "$python" "$machine")
  wheelhouse_py filter --python "$python" --machine "$machine" "${REQS[@]}" >"$dir.txt"
  if ! pip_ download -q --no-index --find-links "$STAGE" -d "$dir" -r "$dir.txt" \
      "${opts[@]}" >"$dir.log" 2>&1; then
    err "python $python $machine: pip cannot resolve from the wheelhouse alone:"
    cat "$dir.log" >&2
    touch "$WORK/failed"
  fi
}

main() {
  [[ $# -eq 1 ]] || { sed -n '2,4p' "$0" >&2; exit 2; }
  local dest=$1 python machine pure stamp req
  "$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip"
  # Up to date: same inputs as the last complete run, and every wheel intact.
  stamp=$(cat "${REQS[@]}" "$0" "$HERE/wheelhouse.py" | sha256sum | cut -d' ' -f1)
  if [[ -f $dest/.stamp && $(<"$dest/.stamp") == "$stamp" ]] \
      && (cd "$dest" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    err "$dest is up to date"
    return 0
  fi
  mkdir -p "$CACHE" "$(dirname "$dest")"
  WORK=$(mktemp -d)
  STAGE=$(mktemp -d "$(dirname "$dest")/.wheelhouse.XXXXXX")
  trap 'rm -rf "$WORK" "$STAGE"' EXIT
  trap 'exit 130' INT TERM

  for pure in "${PURE_BUILDS[@]}"; do
    build_pure "$pure"
  done
  for python in "${TARGET_PYTHONS[@]}"; do
    for machine in "${TARGET_MACHINES[@]}"; do
      fetch_target "$python" "$machine"
    done
  done

  # Completeness, from the staged wheels alone: pip's own pick per target (two at a
  # time), and the closure of every pin's declared dependencies under its markers.
  for python in "${TARGET_PYTHONS[@]}"; do
    for machine in "${TARGET_MACHINES[@]}"; do
      check_target "$python" "$machine" &
      while (($(jobs -rp | wc -l) >= 2)); do sleep 0.2; done
    done
  done
  wait
  [[ ! -e $WORK/failed ]] || die "the wheelhouse is incomplete (see above)"
  wheelhouse_py verify "${TARGET_PYTHONS[@]/#/--python=}" "${TARGET_MACHINES[@]/#/--machine=}" \
    "$STAGE" "${REQS[@]}" || die "the wheelhouse is incomplete (each missing piece is named above)"

  # What lib/bootstrap.sh installs from: the pins with the hash of every wheel shipped for them
  # (pip --require-hashes), and SHA256SUMS of every file, checked before pip runs.
  for req in "${REQS[@]}"; do
    wheelhouse_py hashes "$STAGE" "$req" >"$STAGE/$(basename "$req")" \
      || die "the wheelhouse lacks a wheel for a pin of $req (named above)"
  done
  (cd "$STAGE" && sha256sum -- *.whl requirements.txt pip.txt >SHA256SUMS)
  printf '%s\n' "$stamp" >"$STAGE/.stamp"
  chmod 755 "$STAGE"
  rm -rf "$dest"
  mv -T "$STAGE" "$dest"
  err "$dest: $(find "$dest" -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1)," \
    "complete for CPython ${TARGET_PYTHONS[*]%.*} on ${TARGET_MACHINES[*]}"
}

main "$@"
