#!/usr/bin/env bash
# Summary: enough free disk for the backups of every hop
# Summary-zh: 备份目录有足够的磁盘空间（每一跳的备份）
# Roles: any
# Timeout: 120
# Estimate: what the first hop's backup steps archive on this node, as its strategy binds them
# (DR_B_BACKUP_LOCAL_P_*: the release behind the program's link, the config and local data
# directories; DR_B_BACKUP_DB_P_*: the databases a MariaDB dump writes, on the nodes that dump),
# uncompressed (an upper bound), once per hop of the node's path, plus 64 MB.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

# The bytes of the databases named (words) in MariaDB, 0 when it does not answer.
disk_backup::databases() {
  local list='' db
  for db in "$@"; do [[ $db =~ ^[A-Za-z0-9_]+$ ]] && list+="${list:+, }'$db'"; done
  [[ -n $list ]] || { echo 0; return 0; }
  mariadb -N -e "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables
    WHERE table_schema IN ($list)" 2>/dev/null || echo 0
}

check::run() {
  local root=${DR_BACKUP_ROOT:-/backup} hops=${DR_HOPS:-1} est=0 db free need paths=() dbs=()
  [[ -n ${DR_B_BACKUP_LOCAL_P_LINK:-} ]] && paths+=("$DR_B_BACKUP_LOCAL_P_LINK/")  # the release it points to
  [[ -n ${DR_B_BACKUP_LOCAL_P_CONFIG_DIR:-} ]] && paths+=("$DR_B_BACKUP_LOCAL_P_CONFIG_DIR")
  [[ -n ${DR_B_BACKUP_LOCAL_P_DATA_DIR:-} ]] && paths+=("$DR_B_BACKUP_LOCAL_P_DATA_DIR")
  if ((${#paths[@]})); then
    est=$(du -sbL "${paths[@]}" 2>/dev/null | awk '{s += $1} END {print s + 0}')
    check::item "$(msg "备份内容" "backed up"): ${paths[*]}"
  fi
  if [[ ${DR_B_BACKUP_DB_COMPONENT:-} == service/mariadb ]]; then
    read -ra dbs <<< "${DR_B_BACKUP_DB_P_DATABASES:-} ${DR_B_BACKUP_DB_P_OPTIONAL_DATABASES:-}"
    db=$(disk_backup::databases "${dbs[@]}")
    check::item "$(msg "数据库" "databases") ${dbs[*]}: $(check::mb "${db:-0}") MB"
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
