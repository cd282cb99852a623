# shellcheck shell=bash
# What a rollback from a backup made by service/backup needs (the library of service/restore,
# service/mariadb's recover and the rollback's backup check): the backup being restored and its
# manifest, a private staging area, and the etcd keys. Knows no product: paths, prefixes and
# commands come from the caller (its component's parameters).
# Context (rollback.env, written by rollback_tool): DR_NODE DR_ROLES DR_BACKUP_ROOT DR_BACKUP_ID
# shellcheck source=scripts/components/base/files.sh
source "$(dirname "${BASH_SOURCE[0]}")/../components/base/files.sh"
# shellcheck source=scripts/components/base/wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/../components/base/wait.sh"

RB_STAGE_ROOT=${RB_STAGE_ROOT:-/run/drupgrade-rollback}  # the private copies (rb::stage)

rb::dir() { files::backup_dir; }
rb::manifest() { printf '%s/backup_manifest.json' "$(rb::dir)"; }

#######################################
# A string field of one backup_files entry of the manifest (one entry per line, as written by
# backup_local). Arguments: entry (program_directory, system_config, …), key. Outputs: the value.
#######################################
rb::field() {
  local line
  line=$(grep -E "^ *\"$1\": \{" "$(rb::manifest)" | head -n 1) || return 0
  { grep -oE "\"$2\": \"[^\"]*\"" <<<"$line" || true; } | head -n 1 | sed -E 's/^"[^"]*": "(.*)"$/\1/'
}

#######################################
# The version the backup holds (its program directory's release). It names a release directory,
# so it must look like a version (N.N.N) before anything uses it as a path.
#######################################
rb::version() {
  local v
  v=$(rb::field program_directory release)
  [[ -n $v ]] || die "备份清单 $(rb::manifest) 中没有程序目录的版本" "the manifest $(rb::manifest) names no program release"
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    die "备份清单 $(rb::manifest) 中的程序版本 '$v' 不是 N.N.N 格式的版本号，拒绝使用" \
      "the manifest $(rb::manifest) names the program release '$v', which is not a version (N.N.N): refused"
  printf '%s' "$v"
}

#######################################
# The file of a backup_files entry (empty when the entry is missing). A name in the backup dir,
# never a path: it must be a plain file name before anything uses it.
# Arguments: entry (program_directory, system_config, …). Outputs: the file name.
#######################################
rb::file() {
  local f
  f=$(rb::field "$1" file)
  [[ -z $f || ($f =~ ^[A-Za-z0-9._-]+$ && $f != . && $f != ..) ]] ||
    die "备份清单 $(rb::manifest) 中 $1 的文件名 '$f' 不是单纯的文件名，拒绝使用" \
      "the manifest $(rb::manifest) names the file '$f' for $1, which is not a plain file name: refused"
  printf '%s' "$f"
}

#######################################
# Where the rollback keeps its private copies for this backup (in /run: gone at reboot at the
# latest). The backup id names a directory: it must be a plain name.
#######################################
rb::stage_dir() {
  [[ ${DR_BACKUP_ID:?no backup id in the context} =~ ^[A-Za-z0-9._-]+$ && $DR_BACKUP_ID != . && $DR_BACKUP_ID != .. ]] ||
    die "备份编号 '$DR_BACKUP_ID' 不是单纯的名称" "the backup id '$DR_BACKUP_ID' is not a plain name"
  printf '%s/%s' "${RB_STAGE_ROOT:?}" "$DR_BACKUP_ID"
}

#######################################
# A private copy (0700: it holds the product's secrets) of the backup's config directory, outside
# the live one, so that the database restore never depends on the live config another restore
# rewrites in parallel. Removed when the rollback's verification passes on this node (rb::unstage).
# Arguments: the config directory (absolute). Outputs: the staging directory (holds it, e.g. etc/<p>/…).
#######################################
rb::stage() {
  local stage config=${1:?the config directory}
  stage=$(rb::stage_dir) || return
  if [[ ! -f $stage/.complete ]]; then
    rm -rf "${RB_STAGE_ROOT:?}/${DR_BACKUP_ID:?}"
    mkdir -p "$RB_STAGE_ROOT"
    chmod 0755 "$RB_STAGE_ROOT"
    mkdir -m 0700 "$stage"
    tar -C "$stage" -xzf "$(rb::dir)/system_config.tar.gz" "${config#/}"
    touch "$stage/.complete"
  fi
  printf '%s' "$stage"
}

#######################################
# The restore DB server's config: the server runs as its own user, which cannot enter the private
# stage, so it reads a copy of the backup's server config (which holds no secret) beside it.
# Arguments: the config directory, the server config's name in it. Outputs: the config file.
#######################################
rb::db_config() {
  local stage dir name=${2:?the server config}
  stage=$(rb::stage "$1") || return
  dir=$stage.db
  [[ -d $dir ]] || mkdir -m 0755 "$dir"
  install -m 0644 "$stage/${1#/}/$name" "$dir/${name##*/}"
  printf '%s/%s' "$dir" "${name##*/}"
}

#######################################
# The rollback is over on this node (its verification passed): the private copies go.
#######################################
rb::unstage() {
  rb::stage_dir > /dev/null || return
  rm -rf "${RB_STAGE_ROOT:?}/${DR_BACKUP_ID:?}" "${RB_STAGE_ROOT:?}/${DR_BACKUP_ID:?}.db"
}

#######################################
# Marks the kept release as not to be trusted (the verify step found its content changed): the
# next program restore extracts it from the backup instead of switching to it.
#######################################
rb::suspect_mark() { printf '%s/program.suspect' "$(rb::stage_dir)"; }
rb::mark_suspect() {
  local stage
  stage=$(rb::stage_dir) || return
  mkdir -p "$RB_STAGE_ROOT"
  [[ -d $stage ]] || mkdir -m 0700 "$stage"
  touch "$stage/program.suspect"
}

#######################################
# The release whose tools a restore runs: the backup's own (RELEASES/<version>) when it holds the
# tool and its MANIFEST.sha256 verifies, else the active one (LINK).
# Arguments: releases dir, link, the tool's path inside a release. Outputs: the release directory.
#######################################
rb::tools() {
  local releases=$1 link=$2 tool=$3 v
  v=$(rb::version)
  if [[ -x $releases/$v/$tool ]] && (cd "$releases/$v" && sha256sum --quiet --strict -c MANIFEST.sha256) 2>/dev/null; then
    printf '%s/%s' "$releases" "$v"
  else
    printf '%s' "$link"
  fi
}

#######################################
# True if this node's tables have the checksums taken with the dump: DR_DB_CHECKSUMS (compact
# JSON, from the controller), else the dump's own file (on the primary, by hand).
# Arguments: the command that prints the tables' checksums (JSON)
#######################################
rb::db_checksums_equal() {
  local want=${DR_DB_CHECKSUMS:-} f
  f=$(rb::dir)/database_checksums.json
  [[ -n $want || ! -f $f ]] || want=$(tr -d ' \n' < "$f")
  [[ -n $want ]] || return 0  # a backup made before the checksums were kept
  [[ $("$@" 2>/dev/null | tr -d ' \n') == "$want" ]]
}

#######################################
# Releases installed after the backup's (upgrades made them; the state before had none of them).
# Arguments: releases dir, the backup's version
#######################################
rb::newer_releases() {
  local releases=$1 v=$2 d r
  for d in "$releases"/*/; do
    [[ -d $d ]] || continue
    r=$(basename "$d")
    [[ $r == "$v" ]] && continue
    [[ $(printf '%s\n%s\n' "$v" "$r" | sort -V | tail -n 1) == "$r" ]] && printf '%s\n' "$r"
  done
  return 0
}

#######################################
# The product's etcd keys of the backup, one "KEY<TAB>VALUE(base64)" per line.
#######################################
rb::etcd_backup_keys() {
  local kv key value
  grep -oE '\{"key":"[^"]*"[^}]*\}' "$(rb::dir)/etcd_keys.json" | while IFS= read -r kv; do
    key=$(sed -E 's/.*"key":"([^"]*)".*/\1/' <<<"$kv")
    value=$(grep -oE '"value":"[^"]*"' <<<"$kv" | sed -E 's/"value":"(.*)"/\1/' || true)
    printf '%s\t%s\n' "$(base64 -d <<<"$key")" "$value"
  done
}

rb::etcdctl() { ETCDCTL_API=3 etcdctl --command-timeout=10s "$@"; }

#######################################
# The live keys under a prefix, in the format of rb::etcd_backup_keys.
#######################################
rb::etcd_live_keys() {
  local prefix=$1 json
  json=$(rb::etcdctl get --prefix "$prefix" -w json)
  grep -oE '\{"key":"[^"]*"[^}]*\}' <<<"$json" | while IFS= read -r kv; do
    printf '%s\t%s\n' "$(base64 -d <<<"$(sed -E 's/.*"key":"([^"]*)".*/\1/' <<<"$kv")")" \
      "$(grep -oE '"value":"[^"]*"' <<<"$kv" | sed -E 's/"value":"(.*)"/\1/' || true)"
  done
}

#######################################
# Put the product's etcd keys back as they were: the backup's values, no key under the prefix the
# backup lacks. Arguments: the prefix (the manifest's etcd_keys prefix)
#######################################
rb::etcd_restore() {
  local want have key value
  want=$(rb::etcd_backup_keys | LC_ALL=C sort)
  have=$(rb::etcd_live_keys "${1:?the etcd prefix}" | LC_ALL=C sort)
  while IFS=$'\t' read -r key _; do
    [[ -n $key ]] || continue
    grep -q "^$(printf '%s' "$key" | sed 's/[][\.*^$/]/\\&/g')"$'\t' <<<"$want" || rb::etcdctl del "$key" > /dev/null
  done <<<"$have"
  while IFS=$'\t' read -r key value; do
    [[ -n $key ]] || continue
    base64 -d <<<"$value" | rb::etcdctl put "$key" > /dev/null
  done <<<"$want"
}

#######################################
# The sha256 of every backup file, all at once (SPEC §7: the check grows with the backup, and
# nothing starts before it passes), up to 8 at a time: openssl where the node has it (the CPU's
# SHA instructions, about 4x sha256sum). Arguments: the files. Outputs: one line "FILE=HASH" per
# file, in the order they end (an unreadable file: an empty hash).
#######################################
rb::check_files() {
  (($# > 0)) || return 0
  # shellcheck disable=SC2016 # the job's script, expanded by the bash xargs starts
  printf '%s\0' "$@" | xargs -0 -n 1 -P 8 bash -c '
    if command -v openssl > /dev/null 2>&1; then
      h=$(openssl dgst -sha256 -r "$1" 2> /dev/null) || h=
    else
      h=$(sha256sum -- "$1" 2> /dev/null) || h=
    fi
    echo "$1=${h%% *}"' drcheck
}
