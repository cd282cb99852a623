#!/usr/bin/env bash
# Summary: stop the business services (the strategy names them)
# Summary-zh: 停止业务服务
# Timeout: 120
# Estimate: 1
# Retry: direct
# Done: the business services the strategy names are stopped
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
