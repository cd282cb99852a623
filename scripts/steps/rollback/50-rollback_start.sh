#!/usr/bin/env bash
# Summary: start the services of the restored version (etcd keys put back before the applications start)
# Summary-zh: 启动服务（应用启动前先恢复 Etcd 中的产品键值）
# Rollback-step: 5
# Label: start the services
# Label-zh: 启动服务
# Estimate: 90
# Timeout: 600
# Retry: direct
# Done: every unit of the node runs and the application answers its health check with the backup's version
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
