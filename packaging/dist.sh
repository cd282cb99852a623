#!/usr/bin/env bash
# Stage and pack a tarball reproducibly (sorted, fixed mtime and owner).
# Usage: packaging/dist.sh node|controller VERSION BUILD_DIR
set -euo pipefail

TOP=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

#######################################
# Pack a staged directory into a tarball whose top dir is its name.
# Arguments: staged dir, output file
#######################################
dist::pack() {
  local dir=$1 out=$2
  mkdir -p "$(dirname "$out")"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$(dirname "$dir")" -cf - "$(basename "$dir")" | gzip -n -9 > "$out.tmp"
  mv "$out.tmp" "$out"
  (cd "$(dirname "$out")" && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
  echo "$out"
}

#######################################
# Copy a source tree, leaving out caches.
#######################################
dist::copy() {
  local src=$1 dst=$2
  mkdir -p "$dst"
  tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' -cf - . | tar -C "$dst" -xf -
}

dist::node() {
  local version=$1 build=$2 stage
  stage="$build/stage/drupgrade-node-$version"
  rm -rf "$stage"
  dist::copy "$TOP/scripts" "$stage"
  echo "$version" > "$stage/VERSION"
  dist::pack "$stage" "$build/dist/drupgrade-node-$version.tar.gz"
}

dist::controller() {
  local version=$1 build=$2 stage
  stage="$build/stage/drupgrade-$version"
  rm -rf "$stage"
  mkdir -p "$stage/lib" "$stage/share/node"
  dist::copy "$TOP/bin" "$stage/bin"
  dist::copy "$TOP/lib/python" "$stage/lib/python"
  cp "$TOP/lib/launch.sh" "$TOP/lib/bootstrap.sh" "$stage/lib/"
  dist::copy "$TOP/scripts" "$stage/scripts"
  dist::copy "$TOP/conf" "$stage/conf"
  dist::copy "$TOP/docs" "$stage/docs"
  cp "$TOP/README.md" "$stage/"
  dist::copy "$build/locale" "$stage/share/locale"
  find "$stage/share/locale" -name '*.po' -delete
  cp "$build/dist/drupgrade-node-$version.tar.gz" "$stage/share/node/"
  dist::copy "$build/wheelhouse" "$stage/wheelhouse"
  cp "$TOP/packaging/wheels/requirements.txt" "$stage/wheelhouse/requirements.txt"
  echo "$version" > "$stage/VERSION"
  dist::pack "$stage" "$build/dist/drupgrade-$version.tar.gz"
}

main() {
  local kind=${1:?node or controller} version=${2:?version} build=${3:?build dir}
  case $kind in
    node) dist::node "$version" "$build" ;;
    controller) dist::controller "$version" "$build" ;;
    *) echo "usage: $0 node|controller VERSION BUILD_DIR" >&2; return 2 ;;
  esac
}

main "$@"
