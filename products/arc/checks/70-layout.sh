#!/usr/bin/env bash
# Summary: /opt/arc is a link into /opt/arc-releases, the catalog is where 2.0.0 looks for it, intact
# Summary-zh: /opt/arc 是指向 /opt/arc-releases 的链接，目录库位于 2.0.0 查找的位置且完好
# Roles: any
# Timeout: 60
# The upgrade switches /opt/arc between release directories; 2.0.0 drops ARC_DB and keeps the
# catalog at ARC_DATA_DIR/catalog.db (/var/lib/arc/catalog.db): another ARC_DB would be left behind.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../../../lib/check.sh"  # products/<name>/checks/ in the node tool

check::run() {
  local target db problems=()
  target=$(readlink /opt/arc 2>/dev/null || true)
  check::item "/opt/arc -> ${target:-?}"
  [[ -L /opt/arc && $target =~ ^(/opt/)?arc-releases/[^/]+$ ]] ||
    problems+=("$(msg "/opt/arc 不是指向 /opt/arc-releases/<版本> 的链接" "/opt/arc is not a link to /opt/arc-releases/<version>")")
  db=$(/opt/arc/bin/arc-config get ARC_DB 2>/dev/null || true)
  check::item "ARC_DB=${db:-(none)}"
  [[ -z $db || $db == /var/lib/arc/catalog.db ]] ||
    problems+=("$(msg "ARC_DB=$db 不是 /var/lib/arc/catalog.db（2.0.0 不再读取 ARC_DB）" "ARC_DB=$db is not /var/lib/arc/catalog.db (2.0.0 no longer reads ARC_DB)")")
  if check::has_role gateway && ! /opt/arc/bin/arc-db integrity > /dev/null 2>&1; then
    problems+=("$(msg "目录库完整性检查未通过（arc-db integrity）" "the catalog fails its integrity check (arc-db integrity)")")
  fi
  if ((${#problems[@]})); then
    check::result fail "arc 安装布局不符合升级要求：${problems[*]}" "arc's layout does not allow the upgrade: ${problems[*]}" \
      "请按 docs/arc.md 修正：重新安装（install.sh）或把目录库移到 /var/lib/arc/catalog.db 并删除 ARC_DB" \
      "fix it as docs/arc.md says: reinstall (install.sh), or move the catalog to /var/lib/arc/catalog.db and drop ARC_DB"
  else
    check::result pass "arc 安装布局正常" "arc's layout allows the upgrade"
  fi
}
check::main "$@"
