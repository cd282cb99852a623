# shellcheck shell=bash
# Component service/mariadb (common services: backup and restore): the database's dump into the
# hop's backup dir and its restore from there, as root over the server's socket. A dump counts
# only with mysqldump's closing "-- Dump completed" line (design §4.2.3.3).
# Parameters:
#   action             dump | restore
#   dump_file          the dump's name in the backup dir (default database_backup.sql)
#   databases          dump: the databases (words)
#   optional_databases dump: databases dumped too when they exist (words)
#   checksums          dump: a command (words) printing the tables' checksums (JSON), kept beside the
#                      dump as checksums_file (default database_checksums.json): what a rollback
#                      compares the database with
#   primary_role       restore: nodes with this role import the dump; the others re-sync
#   resync             restore: a command (words) that re-syncs a replica from the primary
# shellcheck source=scripts/components/base/files.sh
source "$COMPONENTS_DIR/base/files.sh"

mariadb::dump() { printf '%s/%s' "$(files::backup_dir)" "$(component::param dump_file database_backup.sql)"; }
mariadb::sums() { printf '%s/%s' "$(files::backup_dir)" "$(component::param checksums_file database_checksums.json)"; }
mariadb::complete() { [[ -s $1 ]] && tail -c 200 "$1" | grep -q -- '-- Dump completed'; }
mariadb::exists() {
  [[ $(mariadb --batch --skip-column-names -e \
    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$1'") == 1 ]]
}
mariadb::primary() { [[ ",${DR_ROLES:-}," == *",$(component::param primary_role),"* ]]; }

pre_check() {
  case $(component::param action) in
    dump | restore) ;;
    *) common::die 2 "action 参数应为 dump 或 restore" "the parameter action must be dump or restore" ;;
  esac
}

post_check() {
  case $(component::param action) in
    dump) mariadb::complete "$(mariadb::dump)" && [[ -s $(mariadb::sums) ]] ;;
    restore) component::executed ;;  # a re-import replaces the tables with the dump's: never "already done"
  esac
}

rollback() {
  local f
  [[ $(component::param action) == dump ]] || return 0
  f=$(mariadb::dump)
  if [[ -e $f || -e $f.part ]] && ! post_check; then
    log "删除不完整的数据库备份 $f" "deleting the incomplete database dump $f"
    rm -f "$f" "$f.part" "$(mariadb::sums)"
  fi
}

mariadb::run_dump() {
  local f sums dbs=() opt=() d
  f=$(mariadb::dump)
  sums=$(mariadb::sums)
  if post_check; then
    log "数据库已备份，跳过" "the database is already backed up: skipping"
    return 0
  fi
  rollback
  files::make_backup_dir
  component::words databases dbs
  component::words optional_databases opt ""
  for d in "${opt[@]}"; do ! mariadb::exists "$d" || dbs+=("$d"); done
  step::point "before the dump"
  mysqldump --single-transaction --routines --events --triggers --gtid --databases "${dbs[@]}" > "$f.part"
  files::fsync "$f.part"
  mariadb::complete "$f.part" || die "数据库备份不完整（缺少 Dump completed 标记）" "the dump is incomplete (no Dump completed line)"
  chmod 0600 "$f.part"
  mv "$f.part" "$f"
  files::fsync "$(dirname "$f")"
  component::command checksums > "$sums.part"
  files::fsync "$sums.part"
  mv "$sums.part" "$sums"
  log "已备份数据库 ${dbs[*]} 到 $f" "dumped ${dbs[*]} to $f"
}

mariadb::run_restore() {
  local f
  if mariadb::primary; then
    f=$(mariadb::dump)
    mariadb::complete "$f" || die "数据库备份 $f 不完整，无法导入" "the database dump $f is incomplete; cannot import it"
    mariadb < "$f"
    log "已导入 $f" "imported $f"
  else
    component::command resync
  fi
}

execute() { "mariadb::run_$(component::param action)"; }
get_progress() {
  local f
  f=$(mariadb::dump)
  [[ ! -e $f.part ]] || printf 'dump %s bytes\n' "$(stat -c %s "$f.part")"
}
