#!/usr/bin/env bash
# Summary: verify the result: version, program and config hashes, data, services, database, etcd
# Summary-zh: 验证回滚结果（版本、程序与配置哈希、数据、服务、数据库、Etcd）
# Rollback-step: 6
# Label: verify the result
# Label-zh: 验证结果
# Estimate: 60
# Timeout: 600
# Retry: direct
# Done: never (a check)
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
