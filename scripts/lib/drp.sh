# shellcheck shell=bash
# What the steps know about the product drp: its paths, units, tools and the backup layout.
# Sourced by step files after step.sh. Context (from the controller's context.env):
#   DR_NODE DR_ROLES DR_FROM DR_TO DR_PACKAGE DR_BACKUP_ID DR_BACKUP_ROOT DR_WORK_DIR DR_STATE_DIR

# shellcheck disable=SC2034  # constants for the step files that source this library
DRP_LINK=/opt/drp
DRP_RELEASES=/opt/drp-releases
DRP_ETC=/etc/drp
DRP_DATA=/var/lib/drp/data
DRP_DATADIR=/var/lib/drp/mysql
DRP_DATADIR_KEPT=/var/lib/drp/mysql.pre-upgrade
DRP_UNIT_DIR=/etc/systemd/system
DRP_UNITS=(drp-app.service drp-kmc.service drp-etcd.service drp-db.service drp.target)

drp::backup_dir() { printf '%s/%s' "${DR_BACKUP_ROOT:-/backup}" "${DR_BACKUP_ID:?no backup id in the context}"; }
# The backup dir, private (0700), with drupgrade's marker: retention removes only marked backups.
drp::make_backup_dir() {
  local dir
  dir=$(drp::backup_dir)
  mkdir -p "$dir"
  chmod 0700 "$dir"
  owned::is_ours "$dir" || owned::mark "$dir" "created_by=drupgrade backup $DR_BACKUP_ID"
}
drp::unpack_dir() { printf '%s/drp-%s' "${DR_WORK_DIR:-/var/lib/drupgrade/work}" "${DR_TO:?}"; }
drp::state_file() { printf '%s/backup_state.json' "${DR_STATE_DIR:-/var/lib/drupgrade/node-state}"; }

#######################################
# True if this node has the role (DR_ROLES is a comma list).
#######################################
drp::has_role() { [[ ",${DR_ROLES:-}," == *",$1,"* ]]; }
drp::is_db() { drp::has_role db_primary || drp::has_role db_replica; }

drp::active_version() { cat "$DRP_LINK/VERSION" 2>/dev/null || echo none; }

#######################################
# Wait until a command succeeds, up to SECONDS. Arguments: seconds, what (zh), what (en), command...
#######################################
drp::wait_for() {
  local seconds=$1 zh=$2 en=$3 deadline
  shift 3
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "等待${zh}超时（${seconds}秒）" "timed out after ${seconds}s waiting for ${en}"
      return 1
    fi
    sleep 0.5
  done
}

drp::unit_active() { systemctl is-active --quiet "$1"; }
# A unit stopped, and said so when it is not: the backup's stop steps.
drp::stop_unit() {
  systemctl stop "$1"
  ! drp::unit_active "$1" || die "$1 仍在运行" "$1 is still running"
}
drp::health() { curl -fsS --max-time 5 http://127.0.0.1:8080/health; }
drp::health_ok() {
  local h
  h=$(drp::health) || return 1
  [[ $h == *'"status": "ok"'* && $h == *"\"version\": \"${1:-$DR_TO}\""* ]]
}
drp::etcd_healthy() { ETCDCTL_API=3 etcdctl --command-timeout=3s endpoint health; }
drp::kmc_healthy() { curl -fsS --max-time 3 http://127.0.0.1:8700/health; }

#######################################
# Stop and delete every drp unit of this node (the design's "delete services").
#######################################
drp::remove_units() {
  local u present=()
  for u in "${DRP_UNITS[@]}"; do
    [[ -e $DRP_UNIT_DIR/$u ]] && present+=("$u")
  done
  ((${#present[@]})) || return 0
  systemctl stop "${present[@]}" || true
  systemctl disable "${present[@]}" >/dev/null 2>&1 || true
  for u in "${present[@]}"; do rm -f "${DRP_UNIT_DIR:?}/$u"; done
  systemctl daemon-reload
  systemctl reset-failed "${present[@]}" >/dev/null 2>&1 || true
}

#######################################
# A directory tree's content hash: paths, modes, link targets and file contents.
# Arguments: directory. Outputs: sha256 hex.
#######################################
drp::tree_hash() {
  local dir=$1
  (
    cd "$dir" || exit 1
    find . -printf '%y %m %P -> %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  ) | sha256sum | cut -d' ' -f1
}

#######################################
# A directory tree's metadata hash: paths, types, modes, sizes, mtimes and link targets, without
# reading the files (constant time in their size): what a fast rollback compares before it
# switches back to a kept release (the full content hash is checked by the rollback's verify).
# Arguments: directory. Outputs: sha256 hex.
#######################################
drp::tree_meta_hash() {
  # Whole seconds: tar keeps no more, so an extracted copy has the same metadata hash.
  (cd "$1" && find . -printf '%y %m %s %T@ %P -> %l\n' | sed -E 's/^([^ ]+ [^ ]+ [^ ]+ [0-9]+)\.[0-9]* /\1 /' |
    LC_ALL=C sort) | sha256sum | cut -d' ' -f1
}

#######################################
# gzip-compatible compressor: pigz (parallel) when the node has it.
#######################################
drp::gzip() { if command -v pigz >/dev/null 2>&1; then pigz -c; else gzip -c; fi; }

#######################################
# Make files (or directories: their entries) durable: fsync each. coreutils before 8.24 (CentOS 7)
# takes no file arguments and syncs everything instead, which covers them as well.
# Arguments: paths...
#######################################
drp::fsync() { sync -- "$@" 2>/dev/null || sync; }

#######################################
# Make the whole filesystem that holds PATH durable (syncfs): a backup on its own mount, e.g.
# /backup, is flushed there, not only where the node state lives.
# Arguments: path
#######################################
drp::sync_fs() { sync -f -- "$1" 2>/dev/null || sync; }

#######################################
# Archive paths (absolute, stored relative to /) into FILE.tar.gz, fsynced before it gets its name;
# fails on any error.
# Arguments: file, paths...
#######################################
drp::archive() {
  local file=$1
  shift
  local rel=() p
  for p in "$@"; do [[ -e $p || -L $p ]] && rel+=("${p#/}"); done
  ((${#rel[@]})) || die "没有可备份的内容: $*" "nothing to archive: $*"
  tar -C / --numeric-owner -cf - "${rel[@]}" | drp::gzip > "$file.part"
  drp::fsync "$file.part"
  mv "$file.part" "$file"
}

#######################################
# The node-local JSON that marks finished local backups (design §4.2.3.4). Mark a backup only once
# its files are durable (drp::sync_fs of its directory): the mark itself is fsynced, then renamed.
#######################################
drp::backup_marked() {
  local f
  f=$(drp::state_file)
  [[ -f $f ]] && grep -qF "\"${DR_BACKUP_ID}\": \"备份软件完成\"" "$f"
}
drp::mark_backup() {
  local f ids
  f=$(drp::state_file)
  mkdir -p "$(dirname "$f")"
  ids=$(grep -o '"backup_[0-9_]*": "备份软件完成"' "$f" 2>/dev/null | grep -vF "\"$DR_BACKUP_ID\"" || true)
  {
    printf '{\n'
    if [[ -n $ids ]]; then printf '  %s,\n' "${ids//$'\n'/$',\n  '}"; fi
    printf '  "%s": "备份软件完成"\n}\n' "$DR_BACKUP_ID"
  } > "$f.tmp"
  drp::fsync "$f.tmp"
  mv "$f.tmp" "$f"
  drp::fsync "$(dirname "$f")"
}

#######################################
# The full environment cleanup of design §4.2.5, before the upgrade phase restarts at unzip:
# stop the new services, drop the new program, bring back the old config and database,
# remove temporary files. Safe to run more than once.
#######################################
drp::env_cleanup() {
  local backup unpack
  backup=$(drp::backup_dir)
  unpack=$(drp::unpack_dir)
  log "停止新服务" "stopping the new services"
  drp::remove_units
  if [[ -d $DRP_RELEASES/$DR_FROM ]]; then
    log "恢复旧程序目录 $DR_FROM" "switching the program back to $DR_FROM"
    "$DRP_RELEASES/$DR_FROM/bin/drp-release" activate "$DR_FROM"
  fi
  if [[ $DR_TO != "$DR_FROM" && -d $DRP_RELEASES/$DR_TO ]]; then
    rm -rf "${DRP_RELEASES:?}/$DR_TO"
  fi
  if [[ -f $backup/system_config.tar.gz ]]; then
    log "从备份恢复旧配置" "restoring the old configuration from the backup"
    rm -rf "${DRP_ETC:?}"
    tar -C / -xzf "$backup/system_config.tar.gz"
    systemctl daemon-reload
  fi
  if [[ -d $DRP_DATADIR_KEPT ]]; then
    log "恢复旧数据库目录" "putting the old database directory back"
    rm -rf "${DRP_DATADIR:?}"
    mv "$DRP_DATADIR_KEPT" "$DRP_DATADIR"
  fi
  rm -rf "${unpack:?}" "${unpack:?}.part"
}
