#!/usr/bin/env bash
# Summary: the arc services of the node's roles are running
# Summary-zh: 节点角色所需的 arc 服务正在运行
# Roles: any
# Timeout: 30
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../../../lib/check.sh"  # products/<name>/checks/ in the node tool

check::run() {
  local want=() u state down=()
  check::has_role gateway && want+=(arc-gateway)
  check::has_role worker && want+=(arc-worker)
  for u in "${want[@]}"; do
    state=$(systemctl is-active "$u.service" 2>/dev/null || true)
    check::item "$u: ${state:-unknown}"
    [[ $state == active ]] || down+=("$u")
  done
  if ((${#down[@]})); then
    check::result fail "服务未运行：${down[*]}" "services not running: ${down[*]}" \
      "请查看原因（journalctl -u ${down[0]}）并启动：systemctl start arc.target" \
      "see why (journalctl -u ${down[0]}) and start them: systemctl start arc.target"
  else
    check::result pass "服务均在运行：${want[*]:-无}" "services running: ${want[*]:-none}"
  fi
}
check::main "$@"
