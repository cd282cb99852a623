#!/usr/bin/env bash
# Summary: unpack the new package (the bytes the controller verified, plain files only)
# Summary-zh: 解压
# Timeout: 600
# Retry: direct
# Done: the unpacked package is complete (its MANIFEST.sha256 verifies)
# Cleanup: full environment cleanup (§4.2.5): new services, program, config, database, temp files
# Roles: any
# Kind: file
# Subject: /var/lib/drupgrade/work
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/package.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/package.sh"

step::check() {
  local dir
  dir=$(drp::unpack_dir)
  [[ -f $dir/MANIFEST.sha256 && -f $dir/.unpacked ]] && (cd "$dir" && sha256sum --quiet --strict -c MANIFEST.sha256)
}
step::cleanup() { drp::env_cleanup; }

step::run() {
  local dir
  dir=$(drp::unpack_dir)
  if step::check; then
    log "软件包已解压，跳过" "the package is already unpacked: skipping"
    return 0
  fi
  if [[ -e $dir ]]; then
    log "发现上次解压的残留，先清理环境" "found an earlier unpack: cleaning the environment first"
    drp::env_cleanup
  fi
  mkdir -p "$(dirname "$dir")"
  # Checked against the sha256 the controller computed from the verified package, then unpacked
  # from that same checked copy (scripts/lib/package.sh).
  package::extract "${DR_PACKAGE:?}" "${DR_PACKAGE_SHA256:-}" "drp-$DR_TO" "$dir.part"
  step::point "after extracting"
  mv "$dir.part/tree/drp-$DR_TO" "$dir"
  rm -rf "${dir:?}.part"
  [[ $(cat "$dir/VERSION") == "$DR_TO" ]] || die "软件包版本不是 $DR_TO" "the package is not version $DR_TO"
  touch "$dir/.unpacked"
}
step::main "$@"
