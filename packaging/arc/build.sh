#!/usr/bin/env bash
# Summary: build the arc packages: OUTDIR/arc-<v>.tar.gz + .sha256 for every release in VERSIONS.
# Usage: packaging/arc/build.sh OUTDIR [VERSION...]
#   Reproducible like drp's (packaging/lib.sh): the same sources give the same sha256.
#   A release's package holds the sources (src/) with its VERSION, the catalog migrations (and
#   their rollbacks) and the config keys (share/config/keys.json) of every release up to it,
#   and the source changes of every later release up to it (changes/<v>.patch, if any).
#   ARC_SIGN_KEY=private.pem (Ed25519 or RSA) also writes arc-<v>.tar.gz.sig with
#   packaging/sign.sh. `make packages` signs with the TEST-ONLY key of packaging/arc/test-keys.
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SRC="${HERE}/src"
# shellcheck disable=SC2034  # read by lib.sh (pkg::err)
PKG_LOG=arc-build
# shellcheck source=packaging/lib.sh
source "${HERE}/../lib.sh"

stage_release() {
  local v="$1" dir="$2"
  mkdir -p "${dir}/share/config"
  cp -R "${SRC}/bin" "${SRC}/lib" "${dir}/"
  cp "${SRC}/install.sh" "${dir}/"
  pkg::copy_migrations "${SRC}/share/migrations" "${dir}/share/migrations" "${v}"
  pkg::filter_releases "${SRC}/share/config/keys.json" "${dir}/share/config/keys.json" "${v}"
  pkg::apply_changes "${HERE}/changes" "${dir}" "${v}"
  sed -i "s/^VERSION = \".*\"$/VERSION = \"${v}\"/" "${dir}/lib/arc/version.py"
  grep -q "^VERSION = \"${v}\"$" "${dir}/lib/arc/version.py"
  printf '%s\n' "${v}" >"${dir}/VERSION"
  pkg::finish "${dir}" install.sh 'bin/*'
}

usage() { sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

pkg::main "${HERE}" arc "${ARC_SIGN_KEY:-}" "$@"
