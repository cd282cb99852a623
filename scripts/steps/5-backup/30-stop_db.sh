#!/usr/bin/env bash
# Summary: stop the database service
# Summary-zh: 停止数据库服务
# Timeout: 300
# Estimate: 1
# Retry: direct
# Done: the database service is stopped
# Cleanup: nothing
# Roles: any
# Barrier: node
# Kind: service
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
