#!/usr/bin/env bash
# Summary: restore the program directory: switch back to the kept release, or extract it from the backup
# Summary-zh: 恢复程序目录（切换回保留的旧版本目录；不完整时从备份解压）
# Rollback-step: 3
# Label: restore the program directory
# Label-zh: 恢复程序目录
# Estimate: 60
# Parallel-group: restore
# Timeout: 1800
# Retry: direct
# Done: the program's link points at the backup's release, whose content hash equals the manifest's, and no newer release is left
# Cleanup: nothing (a staged extraction is replaced on the next run)
# Roles: any
# Kind: file
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
