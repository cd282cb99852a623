#!/usr/bin/env bash
# Summary: start the services
# Summary-zh: 启动服务
# Timeout: 300
# Retry: direct
# Done: drp-app answers /health with status ok and the new version
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { ! drp::has_role app || drp::health_ok "$DR_TO"; }
step::run() {
  systemctl start drp.target
  if drp::has_role app; then
    systemctl start drp-app.service
    drp::wait_for 180 "drp-app 健康检查" "drp-app /health" drp::health_ok "$DR_TO" || {
      drp::health >&2 || true
      return 1
    }
  fi
}
step::main "$@"
