#!/usr/bin/env bash
# Summary: the installed product version is the one the plan starts from
# Summary-zh: 检查已安装的产品版本与升级计划的起始版本一致
# Phase: precheck
# Timeout: 30
# Retry: phase
# Done: never (a check)
# Cleanup: nothing
# Roles: any
# Kind: file
# Subject: /opt/drp/VERSION
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::run() {
  local found
  found=$(drp::active_version)
  if [[ $found == none ]]; then
    die "未找到已安装的 drp（$DRP_LINK/VERSION 不存在）" "no installed drp found ($DRP_LINK/VERSION is missing)"
  fi
  if [[ $found != "${DR_FROM:?}" ]]; then
    die "节点上的版本为 $found，但升级计划从 $DR_FROM 开始；请重新执行 plan" \
      "the node runs $found but the plan starts from $DR_FROM; run plan again"
  fi
  log "产品版本 $found" "product version $found"
}
step::main "$@"
