#!/usr/bin/env bash
# Summary: at most one /etc/passwd record with uid 2048 or 2048 in its comment field
# Summary-zh: /etc/passwd 中 uid 为 2048（或注释含 2048）的系统用户不超过一个
# Roles: any
# Timeout: 30
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

PASSWD=${DR_PASSWD_FILE:-/etc/passwd}

check::run() {
  local lines=() l
  mapfile -t lines < <(awk -F: '($3 ~ /^[0-9]+$/ && $3 + 0 == 2048) || $5 ~ /2048/ {printf "%d: %s\n", NR, $0}' "$PASSWD")
  for l in "${lines[@]}"; do check::item "$PASSWD:$l"; done
  if ((${#lines[@]} > 1)); then
    check::result fail "系统用户检查失败，发现多个2048用户，可能导致权限冲突" \
      "system user check failed: more than one 2048 user found, which may cause permission conflicts" \
      "请检查并清理重复的2048系统用户（见上面列出的 $PASSWD 行）" \
      "check and remove the duplicate 2048 system users (the $PASSWD lines listed)"
  else
    check::result pass "$PASSWD 中的 2048 用户记录：${#lines[@]} 条" "2048 user records in $PASSWD: ${#lines[@]}"
  fi
}
check::main "$@"
