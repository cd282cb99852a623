#!/usr/bin/env bash
# Summary: check that every service runs at the new version
# Summary-zh: 检查所有服务是否启动
# Timeout: 300
# Estimate: 4
# Retry: direct
# Done: every check of the strategy holds
# Cleanup: nothing
# Roles: any
# Kind: service
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
