#!/usr/bin/env bash
# Summary: stop the business services
# Summary-zh: 停止业务服务
# Timeout: 120
# Retry: direct
# Done: drp-app is not running
# Cleanup: nothing
# Roles: app
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { ! drp::unit_active drp-app.service; }
step::run() {
  systemctl stop drp-app.service
  step::check || die "drp-app 仍在运行" "drp-app is still running"
}
step::main "$@"
