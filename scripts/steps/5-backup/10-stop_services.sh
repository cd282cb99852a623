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
step::run() { drp::stop_unit drp-app.service; }
step::main "$@"
