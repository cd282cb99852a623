#!/usr/bin/env bash
# Summary: restore the system config (L1: the config directory, units) and the local data (L4)
# Summary-zh: 恢复系统配置（配置目录、服务单元）与本地业务数据
# Rollback-step: 4
# Label: restore the system config
# Label-zh: 恢复系统配置
# Estimate: 30
# Parallel-group: restore
# Timeout: 900
# Retry: direct
# Done: the config directory and the local data have the manifest's content hashes, and the units are the backup's
# Cleanup: nothing (the next run restores from scratch)
# Roles: any
# Kind: file
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
