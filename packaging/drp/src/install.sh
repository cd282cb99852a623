#!/usr/bin/env bash
# Summary: fresh install of this drp release on one node (run as root from the unpacked package).
# Usage: install.sh --topology FILE --node NAME [STEP...]
#   Steps, in this order (default: all). A cluster install runs each step on every node
#   before the next one: etcd members together, the DB primary before the replicas, app last.
#     wipe   stop and delete any previous drp on this node (units, program, config, data, logs)
#     files  user drp, program release + /opt/drp link, config, units, seed data files
#     etcd   start the etcd member, wait for the cluster, write /drp/config keys   (role etcd)
#     kmc    start the key service                                                (role kmc)
#     db     primary: datadir, users, baseline schema, seed, service DB, migrate, sdba
#            replica: datadir, GTID replication from the primary, caught up, sdba (db roles)
#     app    start drp-app and drp.target, wait for /health status ok             (role app)
#   FILE: the cluster topology JSON (see bin/drp-configure --help).
#
# Upgrade mode (a building block of an upgrade; needs no topology, touches no data):
#   install.sh upgrade   install this release beside the old one (/opt/drp-releases/<v>),
#                        switch /opt/drp to it, refresh the units for the node's roles (read
#                        from the config: run drp-config-upgrade --phase pre first). Services
#                        are neither started nor stopped. Re-runnable.
# Exit: 0 done, 1 a step failed, 2 usage.
set -euo pipefail

PKG="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
VERSION="$(cat "${PKG}/VERSION" 2>/dev/null || echo unknown)"
BIN=/opt/drp/bin
ALL_STEPS=(wipe files etcd kmc db app)
DRP_UID=2048

err() { printf '[%s] [drp-install %s] %s\n' "$(date -u +%H:%M:%S)" "${VERSION}" "$*" >&2; }

usage() { sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

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
  if [[ -x /opt/drp/bin/drp-units ]]; then
    /opt/drp/bin/drp-units remove || true
  fi
  for u in /etc/systemd/system/drp*.service /etc/systemd/system/drp.target; do
    [[ -e "${u}" ]] || continue
    systemctl stop "$(basename "${u}")" >/dev/null 2>&1 || true
    systemctl disable "$(basename "${u}")" >/dev/null 2>&1 || true
    rm -f "${u}"
  done
  rm -rf /etc/systemd/system/drp.target.wants
  systemctl daemon-reload
  systemctl reset-failed 'drp*' >/dev/null 2>&1 || true
  rm -rf /opt/drp /opt/drp-releases /etc/drp /var/lib/drp /var/log/drp /run/drp-app
  err "previous drp removed"
}

ensure_user() {
  if ! getent group drp >/dev/null; then
    if getent group "${DRP_UID}" >/dev/null; then groupadd -r drp; else groupadd -r -g "${DRP_UID}" drp; fi
  fi
  if ! getent passwd drp >/dev/null; then
    local uid_opt=(-u "${DRP_UID}")
    getent passwd "${DRP_UID}" >/dev/null && uid_opt=()
    useradd -r "${uid_opt[@]}" -g drp -d /var/lib/drp -s /usr/sbin/nologin -c "drp service" drp
  fi
}

step_files() {
  ensure_user
  "${PKG}/bin/drp-release" install
  "${PKG}/bin/drp-release" activate "${VERSION}"
  "${BIN}/drp-configure" --topology "${TOPOLOGY}" --node "${NODE}"
  install -d -m 0755 -o drp -g drp /var/lib/drp /var/lib/drp/data /var/lib/drp/data/app
  install -d -m 0750 -o drp -g drp /var/log/drp
  if has_role etcd; then install -d -m 0700 -o drp -g drp /var/lib/drp/etcd; fi
  if has_role db_primary || has_role db_replica; then
    chgrp mysql /var/log/drp && chmod 0770 /var/log/drp
  fi
  "${BIN}/drp-seed" files
  chown -R drp:drp /var/lib/drp/data
  "${BIN}/drp-units" install "${ROLES}"
}

etcd_healthy() { ETCDCTL_API=3 etcdctl --command-timeout=3s endpoint health; }

step_upgrade() {
  "${PKG}/bin/drp-release" install
  "${PKG}/bin/drp-release" activate "${VERSION}"
  "${BIN}/drp-units" install "${ROLES}"
}

step_etcd() {
  has_role etcd || return 0
  # --no-block: a member is ready only once the cluster has quorum, so all members start together
  systemctl start --no-block drp-etcd.service
  wait_for "etcd on 127.0.0.1:2379" 120 etcd_healthy
  "${BIN}/drp-seed" etcd
}

step_kmc() {
  has_role kmc || return 0
  systemctl start drp-kmc.service
  wait_for "KMC on 127.0.0.1:8700" 30 curl -fsS http://127.0.0.1:8700/health
}

step_db() {
  if has_role db_primary; then
    "${BIN}/drp-dbtool" init-datadir
    systemctl start drp-db.service
    "${BIN}/drp-dbtool" wait-ready 60
    "${BIN}/drp-dbtool" bootstrap-primary
    "${BIN}/drp-migrate" --to 1.0.0
    "${BIN}/drp-seed" db
    "${BIN}/drp-dbtool" create-service-db
    "${BIN}/drp-migrate"
    "${BIN}/drp-dbtool" create-sdba
    "${BIN}/drp-dbtool" verify-sdba
  elif has_role db_replica; then
    "${BIN}/drp-dbtool" init-datadir
    systemctl start drp-db.service
    "${BIN}/drp-dbtool" wait-ready 60
    "${BIN}/drp-dbtool" setup-replica --reset --wait 180
    "${BIN}/drp-dbtool" create-sdba
    "${BIN}/drp-dbtool" verify-sdba
  fi
}

app_healthy() {
  curl -fsS --max-time 5 http://127.0.0.1:8080/health | grep -q '"status": "ok"'
}

step_app() {
  has_role app || return 0
  systemctl start drp-app.service
  systemctl start drp.target
  wait_for "drp-app /health status ok" 90 app_healthy || {
    curl -sS --max-time 5 http://127.0.0.1:8080/health >&2 || true
    return 1
  }
  err "health: $(curl -fsS --max-time 5 http://127.0.0.1:8080/health)"
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
      wipe|files|etcd|kmc|db|app|all|upgrade) steps+=("$1"); shift ;;
      *) usage >&2; return 2 ;;
    esac
  done
  ((EUID == 0)) || { err "run as root"; return 2; }
  if [[ "${steps[*]:-}" == upgrade ]]; then
    ROLES="$("${PKG}/bin/drp-config" get node.roles)" \
      || { err "cannot read node.roles from $("${PKG}/bin/drp-config" path): run drp-config-upgrade --phase pre first"; return 1; }
    NODE="$("${PKG}/bin/drp-config" get node.name)"
    CURRENT_STEP=upgrade
    trap on_exit EXIT
    step_upgrade
    err "done: upgrade to ${VERSION}"
    return 0
  fi
  [[ -n "${TOPOLOGY}" && -n "${NODE}" ]] || { usage >&2; return 2; }
  [[ -r "${TOPOLOGY}" ]] || { err "cannot read ${TOPOLOGY}"; return 2; }
  if ((${#steps[@]} == 0)) || [[ " ${steps[*]} " == *" all "* ]]; then steps=("${ALL_STEPS[@]}"); fi
  ROLES="$(/usr/bin/python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["nodes"][sys.argv[2]]["roles"]))' \
    "${TOPOLOGY}" "${NODE}")" || { err "node ${NODE} is not in ${TOPOLOGY}"; return 2; }
  trap on_exit EXIT
  for s in "${steps[@]}"; do
    CURRENT_STEP="${s}"
    err "step ${s} (${NODE}: ${ROLES})"
    "step_${s}"  # not in an || list: errexit must stay on inside the step
  done
  err "done: ${steps[*]}"
}

main "$@"
