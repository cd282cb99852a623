#!/usr/bin/env bash
# Summary: the product services of the node's roles are running
# Summary-zh: 节点角色所需的产品服务正在运行
# Roles: any
# Timeout: 30
# The units: DR_UNITS, those of the node's roles in the product's declaration
# (products/<name>/product.json, roles.<role>.units).
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

check::run() {
  local want=() u state down=()
  read -ra want <<< "${DR_UNITS:-}"
  for u in "${want[@]}"; do
    state=$(systemctl is-active "$u" 2>/dev/null || true)
    check::item "$u: ${state:-unknown}"
    [[ $state == active ]] || down+=("$u")
  done
  if ((${#down[@]})); then
    check::result fail "服务未运行：${down[*]}" "services not running: ${down[*]}" \
      "请查看原因（journalctl -u ${down[0]}）并启动：systemctl start ${down[*]}" \
      "see why (journalctl -u ${down[0]}) and start them: systemctl start ${down[*]}"
  else
    check::result pass "服务均在运行：${want[*]:-无}" "services running: ${want[*]:-none}"
  fi
}
check::main "$@"
