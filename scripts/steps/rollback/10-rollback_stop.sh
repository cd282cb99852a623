#!/usr/bin/env bash
# Summary: stop the current services
# Summary-zh: 停止当前服务
# Rollback-step: 1
# Label: stop the current services
# Label-zh: 停止当前服务
# Estimate: 30
# Timeout: 300
# Retry: direct
# Done: no drp service runs on the node
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

active_units() {
  local u
  for u in drp-app.service drp-kmc.service drp-etcd.service drp-db.service "$RB_DB_UNIT"; do
    drp::unit_active "$u" && printf '%s\n' "$u"
  done
  return 0
}
step::check() { [[ -z $(active_units) ]]; }
step::run() {
  local units
  # The applications first: they write to the database, etcd and the local data.
  systemctl stop drp-app.service 2>/dev/null || true
  mapfile -t units < <(active_units)
  ((${#units[@]} == 0)) || systemctl stop "${units[@]}"
  step::check || die "仍有服务在运行: $(active_units | tr '\n' ' ')" "services still running: $(active_units | tr '\n' ' ')"
}
step::main "$@"
