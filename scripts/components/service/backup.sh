# shellcheck shell=bash
# Component service/backup (common services: backup and restore): the node's local backup of
# design §4.2.3.4 and §4.4.1.3 in the hop's backup dir: L2 the release directory behind the
# program's link (program_directory.tar.gz), L1 the config directory with the product's unit
# files and their enablement links (system_config.tar.gz), L4 the local data
# (local_data.tar.gz), the etcd keys under a prefix (etcd_keys.json, on some roles), SHA256SUMS
# over these and the database dump already there (service/mariadb), and backup_manifest.json,
# written "completed" and "verified" only once the verification passed and every file is durable;
# then the node-local backup_state.json marks the backup. service/restore rolls back from it.
# Parameters:
#   link          L2: the program's link (e.g. /opt/<product>); the release directory it points
#                 to is archived, and its version_file (default VERSION) names the release
#   config_dir    L1: the product's config directory (its tree hash goes into the manifest)
#   unit_dir      L1: where the unit files are (default /etc/systemd/system)
#   unit_match    L1: the product's unit names, globs (words, e.g. "<p>-*.service <p>.target"):
#                 unit_dir/GLOB and unit_dir/*.wants/GLOB are archived
#   data_dir      L4: the local data directory
#   etcd_prefix   the etcd keys under this prefix go to etcd_keys.json (optional) ...
#   etcd_roles    ... on the nodes with one of these roles (words; empty: every node)
# Crash point: "after L1 and L2". Done: backup_state.json marks the backup and its files verify.
# shellcheck source=scripts/components/base/files.sh
source "$COMPONENTS_DIR/base/files.sh"

BACKUP_FILES=(program_directory.tar.gz system_config.tar.gz local_data.tar.gz etcd_keys.json SHA256SUMS backup_manifest.json)

backup::state_file() { printf '%s/backup_state.json' "${DR_STATE_DIR:-/var/lib/drupgrade/node-state}"; }

# True if this node has one of the roles of parameter $1 (words; none given: every node).
backup::on_roles() {
  local roles=() r
  component::words "$1" roles ""
  ((${#roles[@]})) || return 0
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}

#######################################
# The node-local JSON that marks finished local backups (design §4.2.3.4). Mark a backup only once
# its files are durable (files::sync_fs of its directory): the mark itself is fsynced, then renamed.
#######################################
backup::marked() {
  local f
  f=$(backup::state_file)
  [[ -f $f ]] && grep -qF "\"${DR_BACKUP_ID}\": \"备份软件完成\"" "$f"
}
backup::mark() {
  local f ids
  f=$(backup::state_file)
  mkdir -p "$(dirname "$f")"
  ids=$(grep -o '"backup_[0-9_]*": "备份软件完成"' "$f" 2>/dev/null | grep -vF "\"$DR_BACKUP_ID\"" || true)
  {
    printf '{\n'
    if [[ -n $ids ]]; then printf '  %s,\n' "${ids//$'\n'/$',\n  '}"; fi
    printf '  "%s": "备份软件完成"\n}\n' "$DR_BACKUP_ID"
  } > "$f.tmp"
  files::fsync "$f.tmp"
  mv "$f.tmp" "$f"
  files::fsync "$(dirname "$f")"
}

#######################################
# The config paths of L1: the config directory, the unit files and their enablement links.
#######################################
backup::config_paths() {
  local dir globs=() g p
  dir=$(component::param unit_dir /etc/systemd/system)
  component::words unit_match globs
  p=$(component::param config_dir)
  if [[ -e $p || -L $p ]]; then printf '%s\n' "$p"; fi
  for g in "${globs[@]/#/$dir/}" "${globs[@]/#/$dir/*.wants/}"; do
    for p in $g; do if [[ -e $p || -L $p ]]; then printf '%s\n' "$p"; fi; done
  done
}

#######################################
# The verification of design §4.4.1.3: sums, archives list, config not empty, dump completed,
# manifest parses. Arguments: backup dir, manifest file (default: the one in the dir).
#######################################
backup::verify() {
  local dir=$1 manifest=${2:-$1/backup_manifest.json} f
  (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS) || return 1
  for f in program_directory.tar.gz system_config.tar.gz local_data.tar.gz; do
    [[ -f $dir/$f ]] || continue
    tar -tzf "$dir/$f" > /dev/null || { log "$f 无法读取" "$f does not list"; return 1; }
  done
  [[ -n $(tar -tzf "$dir/system_config.tar.gz" | head -n 1) ]] || { log "系统配置备份为空" "the config backup is empty"; return 1; }
  if [[ -f $dir/database_backup.sql ]]; then
    tail -c 200 "$dir/database_backup.sql" | grep -q -- '-- Dump completed' || return 1
  fi
  backup::manifest_parses "$manifest"
}

backup::manifest_parses() {
  if command -v python3 > /dev/null 2>&1; then
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1"
  else
    grep -q '"backup_id": "'"$DR_BACKUP_ID"'"' "$1"
  fi
}

#######################################
# L4 archived as one consistent view. A running service may write the directory meanwhile (a
# rolled hop backs up every node before the first one stops), so an archive counts only when
# the tree's metadata (paths, sizes, mtimes) is the same before its content hash and after the
# archive; else it is made again, up to 5 times.
# Arguments: the archive, the directory. Outputs: the content hash of what was archived.
#######################################
backup::local_data() {
  local file=$1 data=$2 try meta sum
  for try in 1 2 3 4 5; do
    meta=$(files::tree_meta_hash "$data")
    sum=$(files::tree_hash "$data")
    if files::archive "$file" "$data" 2> /dev/null && [[ $(files::tree_meta_hash "$data") == "$meta" ]]; then
      printf '%s\n' "$sum"
      return 0
    fi
    log "$data 在归档时被改动（有服务在写入），重新归档（$try/5）" \
      "$data changed while it was archived (a service writes it): archiving it again ($try/5)"
    sleep 1
  done
  die "$data 持续被改动，无法得到一致的备份：先停止写入它的服务，然后 bin/upgrade.sh retry" \
    "$data kept changing while it was archived, so no consistent backup could be made: stop the service that writes it, then bin/upgrade.sh retry"
}

# One backup_files entry: name file [extra json]
backup::entry() {
  local name=$1 file=$2 extra=${3:-} dir
  dir=$(files::backup_dir)
  printf '    "%s": {"file": "%s", "size": %s, "sha256": "%s", "md5": "%s"%s}' "$name" "$file" \
    "$(stat -c %s "$dir/$file")" "$(sha256sum "$dir/$file" | cut -d' ' -f1)" \
    "$(md5sum "$dir/$file" | cut -d' ' -f1)" "$extra"
}

backup::json_list() {
  local first=1 x
  printf '['
  while IFS= read -r x; do
    ((first)) || printf ', '
    printf '"%s"' "$x"
    first=0
  done
  printf ']'
}

#######################################
# The manifest (design §4.4.1.3), from the entries of backup::run (array ENTRIES). Arguments:
# backup_status, verification_passed (true only once backup::verify passed), timestamp.
#######################################
backup::manifest() {
  local status=$1 passed=$2 stamp=$3
  printf '{\n  "backup_id": "%s",\n  "timestamp": "%s",\n  "node": "%s",\n  "roles": %s,\n' \
    "$DR_BACKUP_ID" "$stamp" "${DR_NODE:-$(hostname)}" \
    "$(tr ',' '\n' <<<"$DR_ROLES" | sed 's/^ *//; s/ *$//' | backup::json_list)"
  printf '  "version_from": "v%s",\n  "version_to": "v%s",\n' "$DR_FROM" "$DR_TO"
  printf '  "layers": {"L1": "system_config", "L2": "program_directory", "L3": "database_backup", "L4": "local_data"},\n'
  printf '  "backup_files": {\n'
  printf '%s' "${ENTRIES[0]}"
  printf ',\n%s' "${ENTRIES[@]:1}"
  printf '\n'
  printf '  },\n  "backup_status": "%s",\n  "verification_passed": %s\n}\n' "$status" "$passed"
}

post_check() { backup::marked && backup::verify "$(files::backup_dir)"; }

rollback() {
  local dir f
  dir=$(files::backup_dir)
  backup::marked && return 0
  for f in "${BACKUP_FILES[@]}"; do rm -f "$dir/$f" "$dir/$f.part"; done
}

execute() {
  local dir link release config data prefix paths stamp
  local -a ENTRIES=()
  if post_check; then
    log "本地数据已备份，跳过" "the local data is already backed up: skipping"
    return 0
  fi
  rollback
  dir=$(files::backup_dir)
  link=$(component::param link)
  config=$(component::param config_dir)
  data=$(component::param data_dir)
  prefix=$(component::param etcd_prefix "")
  files::make_backup_dir
  release=$(readlink -f "$link")
  mapfile -t paths < <(backup::config_paths)

  log "L2 程序目录 $release" "L2 program directory $release"
  files::archive "$dir/program_directory.tar.gz" "$release"
  log "L1 系统配置" "L1 system configuration"
  files::archive "$dir/system_config.tar.gz" "${paths[@]}"
  step::point "after L1 and L2"
  log "L4 本地业务数据 $data" "L4 local data $data"
  local data_sum
  data_sum=$(backup::local_data "$dir/local_data.tar.gz" "$data")
  if [[ -n $prefix ]] && backup::on_roles etcd_roles; then
    ETCDCTL_API=3 etcdctl --command-timeout=10s get --prefix "$prefix" -w json > "$dir/etcd_keys.json.part"
    mv "$dir/etcd_keys.json.part" "$dir/etcd_keys.json"
  fi

  local sums=(program_directory.tar.gz system_config.tar.gz local_data.tar.gz) f
  [[ -f $dir/database_backup.sql ]] && sums+=(database_backup.sql)
  [[ -f $dir/database_checksums.json ]] && sums+=(database_checksums.json)
  [[ -f $dir/etcd_keys.json ]] && sums+=(etcd_keys.json)
  (cd "$dir" && sha256sum -- "${sums[@]}" > SHA256SUMS.part && files::fsync SHA256SUMS.part && mv SHA256SUMS.part SHA256SUMS)

  ENTRIES+=("$(backup::entry program_directory program_directory.tar.gz \
    "$(printf ', "source_path": "%s/", "release": "%s", "link": "%s", "tree_sha256": "%s", "meta_sha256": "%s"' \
      "$release" "$(cat "$release/$(component::param version_file VERSION)")" "$link" "$(files::tree_hash "$release")" \
      "$(files::tree_meta_hash "$release")")")")
  ENTRIES+=("$(backup::entry system_config system_config.tar.gz \
    "$(printf ', "config_paths": %s, "tree_sha256": "%s"' \
      "$(printf '%s\n' "${paths[@]}" | backup::json_list)" "$(files::tree_hash "$config")")")")
  ENTRIES+=("$(backup::entry local_data local_data.tar.gz \
    "$(printf ', "source_path": "%s/", "tree_sha256": "%s"' "$data" "$data_sum")")")
  for f in "${sums[@]:3}"; do
    case $f in
      database_backup.sql) ENTRIES+=("$(backup::entry database_backup "$f" ', "dump_completed": true')") ;;
      database_checksums.json) ENTRIES+=("$(backup::entry database_checksums "$f")") ;;
      etcd_keys.json) ENTRIES+=("$(backup::entry etcd_keys "$f" ", \"prefix\": \"$prefix\"")") ;;
    esac
  done
  # The manifest says completed and verified only after the verification ran and passed, and only
  # once every file of the backup is on disk: a syncfs of the backup's own filesystem (R4, M6).
  stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  backup::manifest verifying false "$stamp" > "$dir/backup_manifest.json.part"
  backup::verify "$dir" "$dir/backup_manifest.json.part" ||
    die "备份校验失败，已删除不完整备份，请重试" "the backup failed verification; run the step again"
  backup::manifest completed true "$stamp" > "$dir/backup_manifest.json.part"
  backup::manifest_parses "$dir/backup_manifest.json.part" || die "备份清单无法解析" "the backup manifest does not parse"
  files::fsync "$dir/backup_manifest.json.part"
  files::sync_fs "$dir"
  mv "$dir/backup_manifest.json.part" "$dir/backup_manifest.json"
  files::fsync "$dir"
  backup::mark
  log "本地备份完成: $dir" "local backup complete: $dir"
}

get_progress() {
  local dir f
  dir=$(files::backup_dir)
  for f in "${BACKUP_FILES[@]}"; do
    [[ ! -e $dir/$f.part ]] || printf '%s %s bytes\n' "$f" "$(stat -c %s "$dir/$f.part" 2>/dev/null || echo 0)"
  done
}
