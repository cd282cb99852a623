#!/usr/bin/env bash
# prereqs.sh: install the Debian packages the lab and the drp product need, if missing.
#
# Usage: tests/lab/prereqs.sh [--check]
#   --check   only list what is missing (exit 1 if anything is)
# Nothing is started on the host: a /usr/sbin/policy-rc.d that exits 101 is in place
# during the install (and removed afterwards only if this script created it). Quiet when
# everything is present.
set -euo pipefail

readonly PACKAGES=(openssh-server openssh-client mariadb-server mariadb-client etcd-server
  etcd-client iptables iproute2 tini bubblewrap pigz zstd rsync systemd procps curl)
readonly POLICY=/usr/sbin/policy-rc.d
POLICY_CREATED=0

log() {
  printf '[%s] [lab:prereqs] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] \
      || echo "$pkg"
  done
}

cleanup() {
  if ((POLICY_CREATED)); then
    rm -f "$POLICY"
  fi
}

main() {
  local check=0 missing=()
  [[ "${1:-}" == --check ]] && check=1
  command -v dpkg-query >/dev/null || die "dpkg-query not found: the lab supports Debian/Ubuntu hosts only"
  while read -r pkg; do [[ -n "$pkg" ]] && missing+=("$pkg"); done < <(missing_packages)
  ((${#missing[@]})) || return 0
  if ((check)); then
    log "missing: ${missing[*]} (install with: sudo $0)"
    return 1
  fi
  [[ $EUID == 0 ]] || die "missing packages ${missing[*]}; run as root to install them: sudo $0"
  if [[ ! -e "$POLICY" ]]; then
    trap cleanup EXIT
    printf '#!/bin/sh\n# written by drupgrade tests/lab/prereqs.sh: start nothing during install\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    POLICY_CREATED=1
  elif ! grep -q 'exit 101' "$POLICY"; then
    die "$POLICY exists and does not exit 101; installing now could start services on this host. Move it away and rerun"
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; check the apt sources of this host"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed (see above)"
  log "installed: ${missing[*]}"
}

main "$@"
