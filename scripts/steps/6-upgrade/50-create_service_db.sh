#!/usr/bin/env bash
# Summary: create the new version's service databases
# Summary-zh: 创建新服务数据库
# Timeout: 300
# Estimate: 1
# Retry: direct
# Done: never (creation is re-runnable)
# Cleanup: nothing
# Roles: any
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
