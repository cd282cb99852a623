#!/usr/bin/env bash
# Summary: restore the database from the backup's dump (primary first; the replica re-syncs from it); node by node (a rolling hop): undo the migrations' expand half, in the last wave
# Summary-zh: 恢复数据库（先主库；备库从恢复后的主库重新同步）；逐节点回滚（滚动升级）时在最后一批撤销迁移的扩展部分
# Rollback-step: 2
# Label: restore the database
# Label-zh: 恢复数据库
# Estimate: 180
# Parallel-group: restore
# Timeout: 1800
# Retry: direct
# Done: the restore's DB server answers and its tables' checksums equal the backup's (node by node: the undo succeeded on the primary)
# Cleanup: nothing (a restore starts from a fresh database directory)
# Roles: any
# Fanout: primary-first
# Rolling: last
# Kind: db
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
