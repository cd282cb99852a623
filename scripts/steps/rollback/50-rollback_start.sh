#!/usr/bin/env bash
# Summary: start the services of the restored version (etcd keys put back before the applications start)
# Summary-zh: 启动服务（应用启动前先恢复 Etcd 中的产品键值）
# Rollback-step: 5
# Label: start the services
# Label-zh: 启动服务
# Estimate: 90
# Timeout: 600
# Retry: direct
# Done: every unit of the node runs and drp-app answers /health with the backup's version
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

units() {
  local u
  for u in drp-db.service drp-kmc.service drp-etcd.service; do
    [[ -e $DRP_UNIT_DIR/$u ]] && printf '%s\n' "$u"
  done
  return 0
}
step::check() {
  local u
  for u in $(units); do drp::unit_active "$u" || return 1; done
  ! drp::has_role app || drp::health_ok "$(rb::version)"
}
step::run() {
  local v list
  v=$(rb::version)
  systemctl stop "$RB_DB_UNIT" 2>/dev/null || true
  systemctl reset-failed "$RB_DB_UNIT" 2>/dev/null || true
  systemctl daemon-reload
  mapfile -t list < <(units)
  # etcd members start together: one alone has no quorum, so do not block on it.
  ((${#list[@]} == 0)) || systemctl start --no-block "${list[@]}"
  if drp::is_db; then
    "$DRP_LINK/bin/drp-dbtool" wait-ready 180
  fi
  if drp::has_role etcd; then
    wait::until 240 "Etcd 集群恢复" "the etcd cluster" drp::etcd_healthy || die "Etcd 集群不健康" "the etcd cluster is not healthy"
    if [[ -f $(rb::dir)/etcd_keys.json ]]; then
      log "恢复 Etcd 中的产品键值" "putting the product's etcd keys back"
      rb::etcd_restore
    fi
  fi
  if drp::has_role app; then
    # The keys of the other etcd members' backups are the same cluster-wide: wait for the config.
    wait::until 120 "Etcd 中的版本键" "the version key in etcd" etcd_version_is "$v" || true
  fi
  systemctl start drp.target
  if drp::has_role app; then
    systemctl start drp-app.service
    wait::until 180 "drp-app 健康检查" "drp-app /health" drp::health_ok "$v" || {
      drp::health >&2 || true
      die "drp-app 未以版本 $v 正常启动" "drp-app does not answer healthy at version $v"
    }
  fi
  log "服务已启动（版本 $v）" "the services run (version $v)"
}
etcd_version_is() {
  local want=$1 got
  [[ -f $(rb::dir)/etcd_keys.json ]] || return 0
  want=$(rb::etcd_backup_keys | awk -F'\t' '$1 == "/drp/config/version" {print $2}')
  [[ -n $want ]] || return 0
  got=$(rb::etcdctl get /drp/config/version --print-value-only 2>/dev/null | head -c -1 | base64 -w0)
  [[ $got == "$want" ]]
}
step::main "$@"
