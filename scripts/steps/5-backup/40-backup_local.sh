#!/usr/bin/env bash
# Summary: back up system config (L1), program dir (L2) and local data (L4), write and verify the manifest
# Summary-zh: 备份本地数据（系统配置 L1、程序目录 L2、本地业务数据 L4）并生成、校验备份清单
# Timeout: 1800
# Retry: direct
# Done: the node-local backup_state.json marks this backup "备份软件完成" and its files verify (§4.2.3.4)
# Cleanup: delete the incomplete local backup files
# Roles: any
# Barrier: node
# Kind: file
# Subject: /var/lib/drp
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

LOCAL_FILES=(program_directory.tar.gz system_config.tar.gz local_data.tar.gz etcd_keys.json SHA256SUMS backup_manifest.json)

#######################################
# The config paths of L1: product config, its units and their enablement links.
#######################################
config_paths() {
  local p
  for p in "$DRP_ETC" "$DRP_UNIT_DIR"/drp-*.service "$DRP_UNIT_DIR"/drp.target \
    "$DRP_UNIT_DIR"/*.wants/drp-*.service "$DRP_UNIT_DIR"/*.wants/drp.target; do
    [[ -e $p || -L $p ]] && printf '%s\n' "$p"
  done
}

#######################################
# The verification of design §4.4.1.3: sums, archives list, config not empty, dump completed,
# manifest parses. Arguments: backup dir, manifest file (default: the one in the dir).
#######################################
verify() {
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
  manifest_parses "$manifest"
}

manifest_parses() {
  if command -v python3 > /dev/null 2>&1; then
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1"
  else
    grep -q '"backup_id": "'"$DR_BACKUP_ID"'"' "$1"
  fi
}

step::check() { drp::backup_marked && verify "$(files::backup_dir)"; }

step::cleanup() {
  local dir f
  dir=$(files::backup_dir)
  drp::backup_marked && return 0
  for f in "${LOCAL_FILES[@]}"; do rm -f "$dir/$f" "$dir/$f.part"; done
}

# One backup_files entry: name file [extra json]
entry() {
  local name=$1 file=$2 extra=${3:-} dir
  dir=$(files::backup_dir)
  printf '    "%s": {"file": "%s", "size": %s, "sha256": "%s", "md5": "%s"%s}' "$name" "$file" \
    "$(stat -c %s "$dir/$file")" "$(sha256sum "$dir/$file" | cut -d' ' -f1)" \
    "$(md5sum "$dir/$file" | cut -d' ' -f1)" "$extra"
}

#######################################
# The manifest (design §4.4.1.3), from the entries of step::run. Arguments: backup_status,
# verification_passed (true only once verify() passed), timestamp.
#######################################
manifest() {
  local status=$1 passed=$2 stamp=$3
  printf '{\n  "backup_id": "%s",\n  "timestamp": "%s",\n  "node": "%s",\n  "roles": %s,\n' \
    "$DR_BACKUP_ID" "$stamp" "${DR_NODE:-$(hostname)}" \
    "$(tr ',' '\n' <<<"$DR_ROLES" | sed 's/^ *//; s/ *$//' | json_list)"
  printf '  "version_from": "v%s",\n  "version_to": "v%s",\n' "$DR_FROM" "$DR_TO"
  printf '  "layers": {"L1": "system_config", "L2": "program_directory", "L3": "database_backup", "L4": "local_data"},\n'
  printf '  "backup_files": {\n'
  printf '%s' "${entries[0]}"
  printf ',\n%s' "${entries[@]:1}"
  printf '\n'
  printf '  },\n  "backup_status": "%s",\n  "verification_passed": %s\n}\n' "$status" "$passed"
}

json_list() {
  local first=1 x
  printf '['
  while IFS= read -r x; do
    ((first)) || printf ', '
    printf '"%s"' "$x"
    first=0
  done
  printf ']'
}

step::run() {
  local dir release paths stamp entries=()
  if step::check; then
    log "本地数据已备份，跳过" "the local data is already backed up: skipping"
    return 0
  fi
  step::cleanup
  dir=$(files::backup_dir)
  files::make_backup_dir
  release=$(readlink -f "$DRP_LINK")
  mapfile -t paths < <(config_paths)

  log "L2 程序目录 $release" "L2 program directory $release"
  files::archive "$dir/program_directory.tar.gz" "$release"
  log "L1 系统配置" "L1 system configuration"
  files::archive "$dir/system_config.tar.gz" "${paths[@]}"
  step::point "after L1 and L2"
  log "L4 本地业务数据 $DRP_DATA" "L4 local data $DRP_DATA"
  files::archive "$dir/local_data.tar.gz" "$DRP_DATA"
  if drp::has_role etcd; then
    ETCDCTL_API=3 etcdctl --command-timeout=10s get --prefix /drp/ -w json > "$dir/etcd_keys.json.part"
    mv "$dir/etcd_keys.json.part" "$dir/etcd_keys.json"
  fi

  local sums=(program_directory.tar.gz system_config.tar.gz local_data.tar.gz) f
  [[ -f $dir/database_backup.sql ]] && sums+=(database_backup.sql)
  [[ -f $dir/database_checksums.json ]] && sums+=(database_checksums.json)
  [[ -f $dir/etcd_keys.json ]] && sums+=(etcd_keys.json)
  (cd "$dir" && sha256sum -- "${sums[@]}" > SHA256SUMS.part && files::fsync SHA256SUMS.part && mv SHA256SUMS.part SHA256SUMS)

  entries+=("$(entry program_directory program_directory.tar.gz \
    "$(printf ', "source_path": "%s/", "release": "%s", "link": "%s", "tree_sha256": "%s", "meta_sha256": "%s"' \
      "$release" "$(cat "$release/VERSION")" "$DRP_LINK" "$(files::tree_hash "$release")" \
      "$(files::tree_meta_hash "$release")")")")
  entries+=("$(entry system_config system_config.tar.gz \
    "$(printf ', "config_paths": %s, "tree_sha256": "%s"' \
      "$(printf '%s\n' "${paths[@]}" | json_list)" "$(files::tree_hash "$DRP_ETC")")")")
  entries+=("$(entry local_data local_data.tar.gz \
    "$(printf ', "source_path": "%s/", "tree_sha256": "%s"' "$DRP_DATA" "$(files::tree_hash "$DRP_DATA")")")")
  for f in "${sums[@]:3}"; do
    case $f in
      database_backup.sql) entries+=("$(entry database_backup "$f" ', "dump_completed": true')") ;;
      database_checksums.json) entries+=("$(entry database_checksums "$f")") ;;
      etcd_keys.json) entries+=("$(entry etcd_keys "$f" ', "prefix": "/drp/"')") ;;
    esac
  done
  # The manifest says completed and verified only after the verification ran and passed, and only
  # once every file of the backup is on disk: a syncfs of the backup's own filesystem (R4, M6).
  stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  manifest verifying false "$stamp" > "$dir/backup_manifest.json.part"
  verify "$dir" "$dir/backup_manifest.json.part" ||
    die "备份校验失败，已删除不完整备份，请重试" "the backup failed verification; run the step again"
  manifest completed true "$stamp" > "$dir/backup_manifest.json.part"
  manifest_parses "$dir/backup_manifest.json.part" || die "备份清单无法解析" "the backup manifest does not parse"
  files::fsync "$dir/backup_manifest.json.part"
  files::sync_fs "$dir"
  mv "$dir/backup_manifest.json.part" "$dir/backup_manifest.json"
  files::fsync "$dir"
  drp::mark_backup
  log "本地备份完成: $dir" "local backup complete: $dir"
}
step::main "$@"
