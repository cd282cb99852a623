#!/usr/bin/env bash
# Summary: import the database data from the backup (the replica re-syncs from the primary)
# Summary-zh: 导入数据库数据
# Timeout: 1800
# Retry: direct
# Done: never (a re-import replaces the tables with the dump's)
# Cleanup: nothing
# Roles: db_primary, db_replica
# Fanout: primary-first
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::run() {
  local dump
  if drp::has_role db_primary; then
    dump=$(drp::backup_dir)/database_backup.sql
    tail -c 200 "$dump" | grep -q -- '-- Dump completed' ||
      die "数据库备份 $dump 不完整，无法导入" "the database dump $dump is incomplete; cannot import it"
    "$DRP_LINK/bin/drp-dbtool" import "$dump"
  else
    "$DRP_LINK/bin/drp-dbtool" setup-replica --reset --wait 600
  fi
}
step::main "$@"
