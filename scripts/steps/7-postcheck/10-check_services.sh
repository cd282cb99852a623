#!/usr/bin/env bash
# Summary: check that every service runs at the new version
# Summary-zh: 检查所有服务是否启动
# Timeout: 300
# Retry: direct
# Done: never (a check)
# Cleanup: nothing
# Roles: any
# Kind: service
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::run() {
  local bad=() u
  for u in $(systemctl list-dependencies --plain --no-legend drp.target 2>/dev/null | awk '{print $1}' | grep '^drp-'); do
    drp::unit_active "$u" || bad+=("$u")
  done
  drp::has_role db_primary && ! drp::unit_active drp-db.service && bad+=(drp-db.service)
  drp::has_role etcd && ! drp::etcd_healthy > /dev/null 2>&1 && bad+=("etcd health")
  drp::has_role kmc && ! drp::kmc_healthy > /dev/null 2>&1 && bad+=("kmc health")
  drp::has_role app && ! drp::health_ok "$DR_TO" && bad+=("drp-app /health ($(drp::health 2>&1 | head -c 300))")
  if drp::is_db; then
    "$DRP_LINK/bin/drp-dbtool" verify-sdba > /dev/null || bad+=(sdba)
    "$DRP_LINK/bin/drp-dbtool" repl-status > /dev/null || bad+=(replication)
    [[ $("$DRP_LINK/bin/drp-dbtool" schema-version) == "$DR_TO" ]] || bad+=("schema version")
  fi
  [[ $(drp::active_version) == "$DR_TO" ]] || bad+=("/opt/drp/VERSION")
  if ((${#bad[@]})); then
    die "以下服务或检查未通过: ${bad[*]}" "these services or checks failed: ${bad[*]}"
  fi
  log "全部服务正常，版本 $DR_TO" "every service runs, version $DR_TO"
}
step::main "$@"
