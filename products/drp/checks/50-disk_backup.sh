#!/usr/bin/env bash
# Summary: enough free disk for the backups of every hop
# Summary-zh: 备份目录有足够的磁盘空间（每一跳的备份）
# Roles: any
# Timeout: 120
# Estimate: what the backup phase archives (program dir, config, local data, and the database
# on the DB primary), uncompressed (an upper bound), once per hop of the path, plus 64 MB.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../../../lib/check.sh"  # products/<name>/checks/ in the node tool

check::run() {
  local root=${DR_BACKUP_ROOT:-/backup} hops=${DR_HOPS:-1} est db free need
  est=$(du -sbL /opt/drp/ /etc/drp /var/lib/drp/data 2>/dev/null | awk '{s += $1} END {print s + 0}')
  if check::has_role db_primary; then
    db=$(mariadb -N -e "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables
         WHERE table_schema IN ('drp', 'drp_audit')" 2>/dev/null || echo 0)
    est=$((est + ${db:-0}))
  fi
  ((hops >= 1)) || hops=1
  need=$((est * hops + 64 * 1048576))
  free=$(check::free_bytes "$root")
  check::item "$root: $(msg "需要" "need") $(check::mb "$need") MB ($hops hop(s) × $(check::mb "$est") MB + 64 MB), $(msg "可用" "free") $(check::mb "$free") MB"
  if ((free < need)); then
    check::result fail "备份目录 $root 空间不足：需要 $(check::mb "$need")MB，可用 $(check::mb "$free")MB" \
      "not enough free disk for the backup in $root: need $(check::mb "$need") MB, free $(check::mb "$free") MB" \
      "请清理 $root 所在文件系统（df -h $root），或在 [paths] node_backup_dir 指定更大的目录" \
      "free space on the filesystem of $root (df -h $root), or set [paths] node_backup_dir to a larger one"
  else
    check::result pass "备份空间充足：需要约 $(check::mb "$need")MB，可用 $(check::mb "$free")MB" \
      "enough disk for the backup: needs about $(check::mb "$need") MB, $(check::mb "$free") MB free"
  fi
}
check::main "$@"
