#!/usr/bin/env bash
# Summary: restore the database from the backup's dump (primary first; the replica re-syncs from it)
# Summary-zh: 恢复数据库（先主库；备库从恢复后的主库重新同步）
# Rollback-step: 2
# Label: restore the database
# Label-zh: 恢复数据库
# Estimate: 180
# Parallel-group: restore
# Timeout: 1800
# Retry: direct
# Done: the restore's DB server answers and its tables' checksums equal the backup's
# Cleanup: nothing (a restore starts from a fresh database directory)
# Roles: any
# Fanout: primary-first
# Kind: db
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

step::check() {
  drp::unit_active "$RB_DB_UNIT" || drp::unit_active drp-db.service || return 1
  if drp::has_role db_replica; then "$(rb::tools)/drp-dbtool" repl-status > /dev/null 2>&1 || return 1; fi
  rb::db_checksums_equal "$(rb::tools)"
}
step::run() {
  local stage tools dump cnf
  stage=$(rb::stage)
  cnf=$(rb::db_config)
  tools=$(rb::tools)
  export DRP_ETC=$stage/etc/drp
  dump=$(rb::dir)/database_backup.sql
  if drp::has_role db_primary; then
    [[ -f $dump ]] || die "本节点上没有数据库备份 $dump" "no database dump $dump on this node"
  fi
  log "停止数据库并重建数据目录" "stopping the database and making a fresh database directory"
  systemctl stop drp-db.service "$RB_DB_UNIT" 2>/dev/null || true
  systemctl reset-failed "$RB_DB_UNIT" 2>/dev/null || true
  rm -rf "${DRP_DATADIR:?}"
  "$tools/drp-dbtool" init-datadir
  step::point "after the fresh database directory"
  # The backup's own server config, not /etc/drp (another restore may be rewriting it now).
  systemd-run --quiet --unit="$RB_DB_UNIT" --property=Type=notify --property=User=mysql \
    --property=Group=mysql --property=RuntimeDirectory=mysqld --property=RuntimeDirectoryMode=0755 \
    --property=TimeoutStartSec=180 /usr/sbin/mariadbd --defaults-file="$cnf" || {
    journalctl -u "$RB_DB_UNIT" -n 5 --no-pager >&2 || true
    die "无法启动用于恢复的数据库服务 $RB_DB_UNIT" "cannot start the database server of the restore ($RB_DB_UNIT)"
  }
  "$tools/drp-dbtool" wait-ready 120
  if drp::has_role db_primary; then
    "$tools/drp-dbtool" bootstrap-primary
    "$tools/drp-dbtool" create-sdba
    log "导入数据库备份 $dump" "importing the database dump $dump"
    "$tools/drp-dbtool" import "$dump"
    step::check || die "恢复后的数据表校验和与备份不一致" "the restored tables' checksums differ from the backup's"
  else
    "$tools/drp-dbtool" create-sdba
    log "备库从恢复后的主库重新同步" "the replica re-syncs from the restored primary"
    "$tools/drp-dbtool" setup-replica --reset --wait 600
    step::check || die "备库同步后的数据表校验和与备份不一致" "the replica's tables' checksums differ from the backup's after the re-sync"
  fi
  "$tools/drp-dbtool" verify-sdba > /dev/null
  log "数据库已恢复" "the database is restored"
}
step::main "$@"
