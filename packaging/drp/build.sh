#!/usr/bin/env bash
# Summary: build the drp packages: OUTDIR/drp-<v>.tar.gz + .sha256 for every release in VERSIONS.
# Usage: packaging/drp/build.sh OUTDIR [VERSION...]
#   Reproducible: fixed mtimes (SOURCE_DATE_EPOCH, default 2026-01-01), owner 0:0, sorted
#   members, normalised modes, gzip -n; the same sources give the same sha256.
#   A release's package holds the common sources (src/) plus what that release defines: its
#   VERSION, the migrations (and their rollbacks) and config defaults of every release up to
#   it, and the source changes of every release up to it (changes/<v>.patch, applied oldest
#   first: a release's package never changes when a later release is added).
#   DRP_SIGN_KEY=private.pem (Ed25519 or RSA) also writes drp-<v>.tar.gz.sig with
#   packaging/sign.sh (an Ed25519 signature is deterministic too). `make packages` signs with
#   the TEST-ONLY key of packaging/drp/test-keys (never for production).
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SRC="${HERE}/src"
# shellcheck disable=SC2034  # read by lib.sh (pkg::err)
PKG_LOG=drp-build
# shellcheck source=packaging/lib.sh
source "${HERE}/../lib.sh"

stage_release() {
  local v="$1" dir="$2"
  mkdir -p "${dir}/share/config"
  cp -R "${SRC}/bin" "${SRC}/lib" "${dir}/"
  cp "${SRC}/install.sh" "${dir}/"
  cp -R "${SRC}/share/seed" "${dir}/share/"
  cp "${SRC}/share/config/ini-map.json" "${dir}/share/config/"
  pkg::copy_migrations "${SRC}/share/migrations" "${dir}/share/migrations" "${v}"
  pkg::filter_releases "${SRC}/share/config/defaults.json" "${dir}/share/config/defaults.json" "${v}"
  pkg::apply_changes "${HERE}/changes" "${dir}" "${v}"
  sed -i "s/^VERSION = \".*\"$/VERSION = \"${v}\"/" "${dir}/lib/drp/version.py"
  grep -q "^VERSION = \"${v}\"$" "${dir}/lib/drp/version.py"
  printf '%s\n' "${v}" >"${dir}/VERSION"
  pkg::finish "${dir}" install.sh 'bin/*'
}

usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

pkg::main "${HERE}" drp "${DRP_SIGN_KEY:-}" "$@"
