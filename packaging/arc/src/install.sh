#!/usr/bin/env bash
# Summary: fresh install of this arc release on one node (run as root from the unpacked package).
# Usage: install.sh --topology FILE --node NAME [STEP...]
#   Steps, in this order (default: all). A cluster install runs each step on every node before
#   the next one: the gateway's catalog first, then the gateway, then the workers.
#     wipe     stop and delete any previous arc on this node (units, program, config, data, logs)
#     files    user arc, program release + /opt/arc link, /etc/arc/arc.env, units, the seed store
#     catalog  the SQLite catalog: baseline, seed objects, migrations to this release (role gateway)
#     start    start arc.target and wait until this node's services answer healthy
#   FILE: the cluster topology JSON (see bin/arc-config --help).
# Exit: 0 done, 1 a step failed, 2 usage.
set -euo pipefail

PKG="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
VERSION="$(cat "${PKG}/VERSION" 2>/dev/null || echo unknown)"
BIN=/opt/arc/bin
ALL_STEPS=(wipe files catalog start)
ARC_UID=2049

err() { printf '[%s] [arc-install %s] %s\n' "$(date -u +%H:%M:%S)" "${VERSION}" "$*" >&2; }
usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Globals: ROLES (comma list of this node's roles, read from the topology).
has_role() { [[ ",${ROLES}," == *",$1,"* ]]; }

wait_for() {
  local what="$1" seconds="$2" deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { err "timeout after ${seconds}s waiting for ${what}"; return 1; }
    sleep 0.5
  done
}

step_wipe() {
  local u
  for u in /etc/systemd/system/arc*.service /etc/systemd/system/arc.target; do
    [[ -e "${u}" ]] || continue
    systemctl stop "$(basename "${u}")" >/dev/null 2>&1 || true
    systemctl disable "$(basename "${u}")" >/dev/null 2>&1 || true
    rm -f "${u}"
  done
  rm -rf /etc/systemd/system/arc.target.wants
  systemctl daemon-reload
  systemctl reset-failed 'arc*' >/dev/null 2>&1 || true
  rm -rf /opt/arc /opt/arc-releases /etc/arc /var/lib/arc /var/log/arc
  err "previous arc removed"
}

ensure_user() {
  if ! getent group arc >/dev/null; then
    if getent group "${ARC_UID}" >/dev/null; then groupadd -r arc; else groupadd -r -g "${ARC_UID}" arc; fi
  fi
  if ! getent passwd arc >/dev/null; then
    local uid_opt=(-u "${ARC_UID}")
    getent passwd "${ARC_UID}" >/dev/null && uid_opt=()
    useradd -r "${uid_opt[@]}" -g arc -d /var/lib/arc -s /usr/sbin/nologin -c "arc service" arc
  fi
}

# The program beside any other release, verified, then /opt/arc switched to it by a rename.
install_release() {
  local target=/opt/arc-releases/${VERSION} stage=/opt/arc-releases/.${VERSION}.staging
  (cd "${PKG}" && sha256sum --quiet --strict -c MANIFEST.sha256) || { err "${PKG} fails its MANIFEST.sha256"; return 1; }
  mkdir -p /opt/arc-releases
  rm -rf "${stage}"
  cp -a "${PKG}/." "${stage}/"
  chown -R root:root "${stage}"
  rm -rf "${target}"
  mv -T "${stage}" "${target}"
  ln -sfn "arc-releases/${VERSION}" /opt/.arc.link.$$
  mv -T /opt/.arc.link.$$ /opt/arc
}

step_files() {
  ensure_user
  install_release
  "${BIN}/arc-config" configure --topology "${TOPOLOGY}" --node "${NODE}"
  install -d -m 0750 -o arc -g arc /var/lib/arc /var/log/arc
  install -d -m 0755 -o arc -g arc "$("${BIN}/arc-config" get ARC_STORE)"
  "${BIN}/arc-seed" store
  chown -R arc:arc "$("${BIN}/arc-config" get ARC_STORE)"
  "${BIN}/arc-units" install "${ROLES}"
}

step_catalog() {
  has_role gateway || return 0
  "${BIN}/arc-migrate" --to 1.0.0
  "${BIN}/arc-seed" catalog
  "${BIN}/arc-migrate"
  "${BIN}/arc-migrate" --check
}

healthy() { curl -fsS --max-time 5 "$1" | grep -q '"status": "ok"'; }

step_start() {
  systemctl start arc.target
  if has_role gateway; then
    wait_for "arc-gateway /health status ok" 60 healthy http://127.0.0.1:9080/health
  fi
  if has_role worker; then
    wait_for "arc-worker /health status ok" 60 healthy http://127.0.0.1:9081/health || {
      curl -sS --max-time 5 http://127.0.0.1:9081/health >&2 || true
      return 1
    }
  fi
  err "arc ${VERSION} runs on ${NODE} (${ROLES})"
}

on_exit() {
  local rc=$?
  ((rc == 0)) || err "step ${CURRENT_STEP:-?} failed on ${NODE} (rc ${rc})"
}

main() {
  local steps=() s
  TOPOLOGY="" NODE=""
  while (($#)); do
    case "$1" in
      --topology) TOPOLOGY="${2:?}"; shift 2 ;;
      --node) NODE="${2:?}"; shift 2 ;;
      -h|--help) usage; return 0 ;;
      wipe|files|catalog|start|all) steps+=("$1"); shift ;;
      *) usage >&2; return 2 ;;
    esac
  done
  [[ -n "${TOPOLOGY}" && -n "${NODE}" ]] || { usage >&2; return 2; }
  ((EUID == 0)) || { err "run as root"; return 2; }
  [[ -r "${TOPOLOGY}" ]] || { err "cannot read ${TOPOLOGY}"; return 2; }
  if ((${#steps[@]} == 0)) || [[ " ${steps[*]} " == *" all "* ]]; then steps=("${ALL_STEPS[@]}"); fi
  ROLES="$(/usr/bin/python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["nodes"][sys.argv[2]]["roles"]))' \
    "${TOPOLOGY}" "${NODE}")" || { err "node ${NODE} is not in ${TOPOLOGY}"; return 2; }
  trap on_exit EXIT
  for s in "${steps[@]}"; do
    CURRENT_STEP="${s}"
    err "step ${s} (${NODE}: ${ROLES})"
    "step_${s}"
  done
  err "done: ${steps[*]}"
}

main "$@"
