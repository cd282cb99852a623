#!/usr/bin/env bash
# Summary: enough available memory (MemAvailable)
# Summary-zh: 可用内存充足（MemAvailable）
# Roles: any
# Timeout: 30
# Thresholds: fail under DR_MEM_MIN_MB (default 512), warn under DR_MEM_WARN_MB (default 1024):
# the upgrade runs the database import and migrations beside the running services.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

check::run() {
  local avail min=${DR_MEM_MIN_MB:-512} warn=${DR_MEM_WARN_MB:-1024}
  avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
  check::item "MemAvailable: ${avail} MB"
  if ((avail < min)); then
    check::result fail "可用内存不足：${avail}MB，至少需要 ${min}MB" \
      "not enough available memory: ${avail} MB, at least ${min} MB needed" \
      "请停止不必要的进程或增加内存后重试（free -m 查看）" "stop processes that are not needed or add memory (see free -m)"
  elif ((avail < warn)); then
    check::result warn "可用内存偏低：${avail}MB（建议至少 ${warn}MB）" \
      "available memory is low: ${avail} MB (at least ${warn} MB advised)" \
      "升级期间请避免在该节点运行其他大内存任务" "avoid other large jobs on this node during the upgrade"
  else
    check::result pass "可用内存 ${avail}MB" "${avail} MB available"
  fi
}
check::main "$@"
