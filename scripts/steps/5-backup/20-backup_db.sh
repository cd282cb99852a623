#!/usr/bin/env bash
# Summary: back up the database (L3)
# Summary-zh: 备份数据库
# Timeout: 1800
# Retry: direct
# Done: database_backup.sql exists and ends with "-- Dump completed" (§4.2.3.3), beside the table checksums
# Cleanup: delete an incomplete dump
# Roles: db_primary
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

dump_file() { printf '%s/database_backup.sql' "$(drp::backup_dir)"; }
# The tables' checksums at dump time: what a rollback's verification compares the DB with.
sums_file() { printf '%s/database_checksums.json' "$(drp::backup_dir)"; }

step::check() {
  local f
  f=$(dump_file)
  [[ -s $f && -s $(sums_file) ]] && tail -c 200 "$f" | grep -q -- '-- Dump completed'
}
step::cleanup() {
  local f
  f=$(dump_file)
  if [[ -e $f || -e $f.part ]] && ! step::check; then
    log "删除不完整的数据库备份 $f" "deleting the incomplete database dump $f"
    rm -f "$f" "$f.part" "$(sums_file)"
  fi
}
step::run() {
  if step::check; then
    log "数据库已备份，跳过" "the database is already backed up: skipping"
    return 0
  fi
  step::cleanup
  drp::make_backup_dir
  step::point "before the dump"
  "$DRP_LINK/bin/drp-dbtool" dump "$(dump_file)"
  "$DRP_LINK/bin/drp-dbtool" checksum --json > "$(sums_file).part"
  drp::fsync "$(sums_file).part"
  mv "$(sums_file).part" "$(sums_file)"
  step::check || die "数据库备份不完整（缺少 Dump completed 标记）" "the dump is incomplete (no Dump completed line)"
}
step::main "$@"
