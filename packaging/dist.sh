#!/usr/bin/env bash
# Stage and pack a tarball reproducibly (sorted, fixed mtime and owner), and list it in
# BUILD_DIR/dist/SHA256SUMS; with DRUPGRADE_SIGN_KEY=private.pem (Ed25519 or RSA) also sign that
# list (SHA256SUMS.sig, packaging/sign.sh). Check a tarball before unpacking it: docs/install.md.
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
  dist::sums "$(dirname "$out")" "$(basename "$out")"
  echo "$out"
}

#######################################
# Put a tarball's sha256 into DIR/SHA256SUMS (replacing its old line), and sign the list when
# DRUPGRADE_SIGN_KEY names a key; without one, an old signature is removed (it no longer fits).
# Arguments: dist dir, tarball name
#######################################
dist::sums() {
  local dir=$1 name=$2
  (
    cd "$dir"
    { grep -vF "  $name" SHA256SUMS 2>/dev/null || true; sha256sum "$name"; } | LC_ALL=C sort -k2 >SHA256SUMS.tmp
    mv SHA256SUMS.tmp SHA256SUMS
    rm -f "$name.sha256" SHA256SUMS.sig
  )
  if [[ -n ${DRUPGRADE_SIGN_KEY:-} ]]; then
    "$TOP/packaging/sign.sh" "$DRUPGRADE_SIGN_KEY" "$dir/SHA256SUMS"
  fi
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
  local checks  # each product's own precheck checks, run by drcheck for the node's DR_PRODUCT
  for checks in "$TOP"/products/*/checks; do
    [[ -d $checks ]] || continue
    dist::copy "$checks" "$stage/products/$(basename "${checks%/checks}")/checks"
  done
  echo "$version" > "$stage/VERSION"
  dist::pack "$stage" "$build/dist/drupgrade-node-$version.tar.gz"
}

#######################################
# Bash completion of both tools, generated from their command-line definitions in the staged tree
# (drupgrade.completion): share/bash-completion/completions/upgrade.sh and rollback_tool.
# Arguments: staged controller dir
#######################################
dist::completion() {
  local stage=$1 dir tool prog
  dir="$stage/share/bash-completion/completions"
  mkdir -p "$dir"
  for tool in upgrade:upgrade.sh rollback:rollback_tool; do
    prog=${tool#*:}
    PYTHONPATH="$stage/lib/python" DRUPGRADE_ROOT="$stage" python3 -B -m drupgrade.completion "${tool%%:*}" \
      > "$dir/$prog.tmp"
    mv "$dir/$prog.tmp" "$dir/$prog"
  done
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
  dist::copy "$TOP/products" "$stage/products"  # the products' data (docs/framework.md)
  dist::copy "$TOP/templates" "$stage/templates"
  dist::copy "$TOP/docs" "$stage/docs"
  cp "$TOP/README.md" "$stage/"
  dist::copy "$build/locale" "$stage/share/locale"
  find "$stage/share/locale" -name '*.po' -delete
  cp "$build/dist/drupgrade-node-$version.tar.gz" "$stage/share/node/"
  dist::copy "$build/wheelhouse" "$stage/wheelhouse"  # with its hashed requirements and SHA256SUMS
  dist::completion "$stage"
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
