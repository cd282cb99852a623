# shellcheck shell=bash
# What the rollback steps share: the backup being restored and its manifest, a private staging
# area, and the etcd keys. Sourced by the rollback step files after step.sh and drp.sh.
# Context (rollback.env, written by rollback_tool): DR_NODE DR_ROLES DR_BACKUP_ROOT DR_BACKUP_ID

# shellcheck disable=SC2034  # used by the step files that source this library
RB_DB_UNIT=drp-db-restore.service  # the DB server a restore runs, from the backup's own config

rb::dir() { drp::backup_dir; }
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
# The version the backup holds (its program directory's release).
#######################################
rb::version() {
  local v
  v=$(rb::field program_directory release)
  [[ -n $v ]] || die "备份清单 $(rb::manifest) 中没有程序目录的版本" "the manifest $(rb::manifest) names no program release"
  printf '%s' "$v"
}

#######################################
# A private copy of the backup's config (and its tools' view of it), outside /etc/drp, so that
# the database restore never depends on the live config another restore rewrites in parallel.
# Outputs: the staging directory (holds etc/drp/…).
#######################################
rb::stage() {
  local stage=/run/drupgrade-rollback/$DR_BACKUP_ID
  if [[ ! -f $stage/.complete ]]; then
    rm -rf "$stage"
    mkdir -p "$stage"
    chmod 0755 /run/drupgrade-rollback "$stage"
    tar -C "$stage" -xzf "$(rb::dir)/system_config.tar.gz" etc/drp
    touch "$stage/.complete"
  fi
  chmod 0755 "$stage/etc"  # mariadbd (user mysql) reads the config through it
  printf '%s' "$stage"
}

#######################################
# Marks the kept release as not to be trusted (the verify step found its content changed): the
# next program restore extracts it from the backup instead of switching to it.
#######################################
rb::suspect_mark() { printf '/run/drupgrade-rollback/%s/program.suspect' "$DR_BACKUP_ID"; }

#######################################
# The product tools of the backup's version when that release is intact, else the active ones.
#######################################
rb::tools() {
  local v
  v=$(rb::version)
  if [[ -x $DRP_RELEASES/$v/bin/drp-dbtool ]] && (cd "$DRP_RELEASES/$v" && sha256sum --quiet --strict -c MANIFEST.sha256) 2>/dev/null; then
    printf '%s/%s/bin' "$DRP_RELEASES" "$v"
  else
    printf '%s/bin' "$DRP_LINK"
  fi
}

#######################################
# True if this node's tables have the checksums taken with the dump: DR_DB_CHECKSUMS (compact
# JSON, from the controller), else the dump's own file (on the primary, by hand).
# Arguments: the product tools' directory
#######################################
rb::db_checksums_equal() {
  local want=${DR_DB_CHECKSUMS:-} f
  f=$(rb::dir)/database_checksums.json
  [[ -n $want || ! -f $f ]] || want=$(tr -d ' \n' < "$f")
  [[ -n $want ]] || return 0  # a backup made before the checksums were kept
  [[ $("$1/drp-dbtool" checksum --json 2>/dev/null | tr -d ' \n') == "$want" ]]
}

#######################################
# Releases installed after the backup's (upgrades made them; the state before had none of them).
#######################################
rb::newer_releases() {
  local v=$1 d r
  for d in "$DRP_RELEASES"/*/; do
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
# Put the product's etcd keys back as they were: the backup's values, no key the backup lacks.
#######################################
rb::etcd_restore() {
  local want have key value
  want=$(rb::etcd_backup_keys | LC_ALL=C sort)
  have=$(rb::etcd_live_keys /drp/ | LC_ALL=C sort)
  while IFS=$'\t' read -r key _; do
    [[ -n $key ]] || continue
    grep -q "^$(printf '%s' "$key" | sed 's/[][\.*^$/]/\\&/g')"$'\t' <<<"$want" || rb::etcdctl del "$key" > /dev/null
  done <<<"$have"
  while IFS=$'\t' read -r key value; do
    [[ -n $key ]] || continue
    base64 -d <<<"$value" | rb::etcdctl put "$key" > /dev/null
  done <<<"$want"
}
