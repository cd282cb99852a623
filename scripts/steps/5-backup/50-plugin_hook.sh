#!/usr/bin/env bash
# Summary: run the custom plugins of the backup phase
# Summary-zh: 执行自定义插件
# Timeout: 600
# Estimate: 1
# Retry: direct
# Done: every plugin of the hook has run
# Cleanup: nothing
# Roles: any
# Kind: plugin
# Subject: backup
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"

step::run() {
  local dir=${DR_TOOL_DIR:-/opt/drupgrade}/plugins/backup p n=0
  for p in "$dir"/*.sh; do
    [[ -f $p ]] || continue
    log "执行插件 $p" "running plugin $p"
    bash "$p"
    n=$((n + 1))
  done
  log "已执行 $n 个插件" "$n plugins run"
}
step::main "$@"
