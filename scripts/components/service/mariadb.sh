# shellcheck shell=bash
# Component service/mariadb (common services: backup and restore): the database's dump into the
# hop's backup dir and its restore from there, as root over the server's socket. A dump counts
# only with mysqldump's closing "-- Dump completed" line (design §4.2.3.3).
# Parameters:
#   action             dump | restore | recover | undo
#   dump_file          the dump's name in the backup dir (default database_backup.sql)
#   databases          dump: the databases (words)
#   optional_databases dump: databases dumped too when they exist (words)
#   checksums          dump: a command (words) printing the tables' checksums (JSON), kept beside the
#                      dump as checksums_file (default database_checksums.json): what a rollback
#                      compares the database with
#   primary_role       restore: nodes with this role import the dump; the others re-sync
#   resync             restore: a command (words) that re-syncs a replica from the primary
# recover (the rollback's database, from a backup made by dump and service/backup): a fresh
# database directory, a server of its own started with the backup's config, the dump imported on
# the primary role (replicas re-sync from it), the tables' checksums compared with the dump's.
#   db_unit            the database's unit (stopped first)
#   recover_unit       the transient unit the recover's server runs as (service/restore's start
#                      stops it: its stop_first)
#   data_dir           the database directory (made anew)
#   config_dir         the product's config directory: its backup copy (service/backup's L1) is
#                      staged privately and given to the tool in the environment variable config_env
#   config_env
#   server_config      the server's config file inside config_dir (a readable copy is the server's)
#   server, server_user  the server binary (default /usr/sbin/mariadbd) and its user (default mysql)
#   link, releases, tool  the product's database tool (tool: its path inside a release dir), from
#                      the backup's release when it holds it intact (releases/<version>), else link's
#   init, ready, prepare, admin_create, import, resync, admin_check, checksums, replica_check
#                      the tool's arguments (words) to: initialise the database directory, wait
#                      until the server answers, prepare the primary (its users), create the admin
#                      user, import a dump (its path appended), re-sync a replica, check the admin
#                      user, print the tables' checksums (JSON), check the replication
#   primary_role, replica_role  the roles that import the dump, and that re-sync
# undo (a rolling hop's node-by-node rollback, after every other node runs the old version again):
# the server keeps running and serving; nothing is stopped, imported or re-created.
#   undo               a command (words) the nodes with primary_role run: it takes the schema back to
#                      the backup's version (the product's undo of the migrations' expand half,
#                      re-runnable); a replica follows by replication and has nothing of its own to do
# shellcheck source=scripts/components/base/files.sh
source "$COMPONENTS_DIR/base/files.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$COMPONENTS_DIR/../lib/rollback.sh"

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
    dump | restore | recover | undo) ;;
    *) common::die 2 "action 参数应为 dump、restore、recover 或 undo" "the parameter action must be dump, restore, recover or undo" ;;
  esac
}

post_check() {
  case $(component::param action) in
    dump) mariadb::complete "$(mariadb::dump)" && [[ -s $(mariadb::sums) ]] ;;
    restore) component::executed ;;  # a re-import replaces the tables with the dump's: never "already done"
    recover) mariadb::recovered ;;
    undo) ! mariadb::primary || component::executed ;;  # re-runnable: a resume runs the undo again
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

# -- recover ------------------------------------------------------------------------------------
mariadb::has_role() { [[ ",${DR_ROLES:-}," == *",$(component::param "$1"),"* ]]; }
# The database tool of the restore with the arguments of parameter $1 (more arguments appended).
mariadb::tool() {
  local args=() name=$1
  shift
  component::words "$name" args
  "$(rb::tools "$(component::param releases)" "$(component::param link)" "$(component::param tool)")/$(component::param tool)" \
    "${args[@]}" "$@"
}
mariadb::recovered() {
  systemctl is-active --quiet "$(component::param recover_unit)" || systemctl is-active --quiet "$(component::param db_unit)" ||
    return 1
  if mariadb::has_role replica_role; then mariadb::tool replica_check > /dev/null 2>&1 || return 1; fi
  rb::db_checksums_equal mariadb::tool checksums
}
mariadb::run_recover() {
  local stage dump cnf unit data config
  unit=$(component::param recover_unit)
  data=$(component::param data_dir)
  config=$(component::param config_dir)
  stage=$(rb::stage "$config")
  cnf=$(rb::db_config "$config" "$(component::param server_config)")
  # The tool reads the backup's config, not the live one (another restore may be rewriting it now).
  export "$(component::param config_env)=$stage/${config#/}"
  dump=$(mariadb::dump)
  if mariadb::primary; then
    [[ -f $dump ]] || die "本节点上没有数据库备份 $dump" "no database dump $dump on this node"
  fi
  log "停止数据库并重建数据目录" "stopping the database and making a fresh database directory"
  systemctl stop "$(component::param db_unit)" "$unit" 2>/dev/null || true
  systemctl reset-failed "$unit" 2>/dev/null || true
  rm -rf "${data:?}"
  mariadb::tool init
  step::point "after the fresh database directory"
  systemd-run --quiet --unit="$unit" --property=Type=notify --property=User="$(component::param server_user mysql)" \
    --property=Group="$(component::param server_user mysql)" --property=RuntimeDirectory=mysqld \
    --property=RuntimeDirectoryMode=0755 --property=TimeoutStartSec=180 \
    "$(component::param server /usr/sbin/mariadbd)" --defaults-file="$cnf" || {
    journalctl -u "$unit" -n 5 --no-pager >&2 || true
    die "无法启动用于恢复的数据库服务 $unit" "cannot start the database server of the restore ($unit)"
  }
  mariadb::tool ready
  if mariadb::primary; then
    mariadb::tool prepare
    mariadb::tool admin_create
    log "导入数据库备份 $dump" "importing the database dump $dump"
    mariadb::tool import "$dump"
    mariadb::recovered || die "恢复后的数据表校验和与备份不一致" "the restored tables' checksums differ from the backup's"
  else
    mariadb::tool admin_create
    log "备库从恢复后的主库重新同步" "the replica re-syncs from the restored primary"
    mariadb::tool resync
    mariadb::recovered || die "备库同步后的数据表校验和与备份不一致" "the replica's tables' checksums differ from the backup's after the re-sync"
  fi
  mariadb::tool admin_check > /dev/null
  log "数据库已恢复" "the database is restored"
}

# -- undo --------------------------------------------------------------------------------------
mariadb::run_undo() {
  if ! mariadb::primary; then
    log "备库经复制跟随主库的撤销，无需操作" "a replica follows the primary's undo by replication: nothing to do here"
    return 0
  fi
  log "撤销迁移的扩展部分（数据库持续提供服务）" "undoing the expand half of the migrations (the database keeps serving)"
  component::command undo
  log "数据库结构已回到备份时的版本" "the schema is back at the backup's version"
}

execute() { "mariadb::run_$(component::param action)"; }
get_progress() {
  local f
  f=$(mariadb::dump)
  [[ ! -e $f.part ]] || printf 'dump %s bytes\n' "$(stat -c %s "$f.part")"
}
