#!/usr/bin/env bash
# Summary: network and NetworkManager are not both running (not checked on UOS, Kylin, openEuler)
# Summary-zh: network 与 NetworkManager 服务未同时运行（UOS、麒麟、openEuler 不检查）
# Roles: any
# Timeout: 30
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

# "ID<TAB>NAME<TAB>PRETTY_NAME" of /etc/os-release (read in a subshell: it is shell syntax).
os_release() {
  # shellcheck disable=SC1091
  (. /etc/os-release 2>/dev/null; printf '%s\t%s\t%s\n' "${ID:-unknown}" "${NAME:-unknown}" \
    "${PRETTY_NAME:-${NAME:-unknown}}")
}

unit_state() { systemctl is-active "$1.service" 2>/dev/null || true; }

check::run() {
  local id name pretty lower net nm
  IFS=$'\t' read -r id name pretty < <(os_release)
  check::item "/etc/os-release: ID=$id NAME=\"$name\" PRETTY_NAME=\"$pretty\""
  lower=$(printf '%s %s' "$id" "$name" | tr '[:upper:]' '[:lower:]')
  if [[ $lower =~ (^|[^a-z])(uos|uniontech|kylin|openeuler) ]]; then
    check::result pass "操作系统为 $pretty（UOS/麒麟/openEuler），不检查 network 与 NetworkManager" \
      "the OS is $pretty (UOS/Kylin/openEuler): network and NetworkManager are not checked"
    return 0
  fi
  net=$(unit_state network)
  nm=$(unit_state NetworkManager)
  check::item "network: ${net:-unknown}, NetworkManager: ${nm:-unknown}"
  if [[ $net == active && $nm == active ]]; then
    check::result fail "检查失败：network和NetworkManager服务同时运行，可能导致网络冲突" \
      "check failed: the network and NetworkManager services are both running, which may cause network conflicts" \
      "请只保留一个网络服务，例如：systemctl disable --now network（操作系统：$pretty）" \
      "keep only one of them, e.g. systemctl disable --now network (OS: $pretty)"
  else
    check::result pass "操作系统 $pretty：network 为 ${net:-unknown}，NetworkManager 为 ${nm:-unknown}，未同时运行" \
      "OS $pretty: network is ${net:-unknown}, NetworkManager is ${nm:-unknown}: not both running"
  fi
}
check::main "$@"
