#!/usr/bin/env bash
# Summary: contract the database schema (a rolling hop: once every node runs the new version and passed its health check)
# Summary-zh: 收缩数据库结构（滚动升级的跳：所有节点都运行新版本并通过健康检查之后）
# Timeout: 1800
# Estimate: 1
# Retry: direct
# Done: every contract migration up to the new version is recorded
# Cleanup: nothing: each contract migration is re-runnable
# Roles: any
# Rolling: last
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
