#!/usr/bin/env bash
# Summary: enough free disk for the backup and the package
# Summary-zh: 检查备份和软件包所需的磁盘空间
# Phase: precheck
# Timeout: 60
# Retry: phase
# Done: never (a check)
# Cleanup: nothing
# Roles: any
# Kind: file
# Subject: /backup
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

# Free bytes on the filesystem holding PATH (its nearest existing parent).
free_bytes() {
  local p=$1
  while [[ ! -e $p ]]; do p=$(dirname "$p"); done
  df -PB1 "$p" | awk 'NR == 2 {print $4}'
}

step::run() {
  local need_backup=0 need_pkg pkg_size db_bytes free
  # What the backup will hold: program dir, config, local data, database (uncompressed: an upper bound).
  need_backup=$(du -sbL "$DRP_LINK/" "$DRP_ETC" "$DRP_DATA" 2>/dev/null | awk '{s += $1} END {print s + 0}')
  if drp::has_role db_primary; then
    db_bytes=$(mariadb -N -e "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema IN ('drp', 'drp_audit')" 2>/dev/null || echo 0)
    need_backup=$((need_backup + db_bytes))
  fi
  need_backup=$((need_backup * 2 + 64 * 1024 * 1024))
  free=$(free_bytes "${DR_BACKUP_ROOT:-/backup}")
  if ((free < need_backup)); then
    die "备份目录 ${DR_BACKUP_ROOT:-/backup} 空间不足：需要 $((need_backup / 1048576))MB，可用 $((free / 1048576))MB；请清理磁盘后重试" \
      "not enough free disk for the backup in ${DR_BACKUP_ROOT:-/backup}: need $((need_backup / 1048576)) MB, free $((free / 1048576)) MB; free some space and retry"
  fi
  # The package and its unpacked copy, for every hop of the path.
  pkg_size=${DR_PACKAGE_BYTES:-0}
  need_pkg=$((pkg_size * 4 + 64 * 1024 * 1024))
  free=$(free_bytes "${DR_WORK_DIR:-/var/lib/drupgrade/work}")
  if ((free < need_pkg)); then
    die "软件包目录空间不足：需要 $((need_pkg / 1048576))MB，可用 $((free / 1048576))MB" \
      "not enough free disk for the package: need $((need_pkg / 1048576)) MB, free $((free / 1048576)) MB"
  fi
  log "磁盘空间充足（备份需要约 $((need_backup / 1048576))MB）" "disk space ok (backup needs about $((need_backup / 1048576)) MB)"
}
step::main "$@"
