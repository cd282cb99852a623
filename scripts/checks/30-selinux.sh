#!/usr/bin/env bash
# Summary: SELinux is Disabled (getenforce)
# Summary-zh: SELinux 状态为 Disabled（getenforce）
# Roles: any
# Timeout: 30
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

check::run() {
  local state
  if ! command -v getenforce >/dev/null 2>&1; then
    check::result pass "未安装 SELinux 工具（没有 getenforce 命令）：SELinux 未启用" \
      "no SELinux tools installed (no getenforce command): SELinux is not in use"
    return 0
  fi
  state=$(getenforce 2>&1 | head -n 1) || true
  check::item "getenforce: $state"
  case $state in
    Disabled)
      check::result pass "SELinux 状态为 Disabled" "SELinux is Disabled"
      ;;
    Enforcing | Permissive)
      check::result fail "SELinux状态检查失败，当前状态为${state}，升级要求SELinux为Disabled状态" \
        "SELinux check failed: the current state is ${state}; the upgrade requires SELinux to be Disabled" \
        "请执行 'setenforce 0' 和修改 '/etc/selinux/config' 文件禁用SELinux" \
        "run 'setenforce 0' and edit '/etc/selinux/config' (SELINUX=disabled) to disable SELinux"
      ;;
    *)
      check::result fail "SELinux状态检查失败，getenforce 的输出无法识别：$state" \
        "SELinux check failed: unrecognised output of getenforce: $state" \
        "请确认 getenforce 可以正常执行并输出 Disabled" "make sure getenforce runs and says Disabled"
      ;;
  esac
}
check::main "$@"
