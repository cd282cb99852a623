#!/usr/bin/env bash
# Summary: back up system config (L1), program dir (L2) and local data (L4), write and verify the manifest
# Summary-zh: 备份本地数据（系统配置 L1、程序目录 L2、本地业务数据 L4）并生成、校验备份清单
# Timeout: 1800
# Estimate: 3
# Retry: direct
# Done: the node-local backup_state.json marks this backup "备份软件完成" and its files verify (§4.2.3.4)
# Cleanup: delete the incomplete local backup files
# Roles: any
# Rolling: first
# Barrier: node
# Kind: file
# Subject: /backup
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
