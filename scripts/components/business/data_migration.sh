# shellcheck shell=bash
# Component business/data_migration (business logic: business data migration): the product's own
# migration tool brings its data to the new version, and no business record is lost on the way.
# Before the first attempt it records how many records each table holds (the product's `records`
# command); afterwards every table that existed before holds as many records as it did (new
# tables may appear; a migration that moves a column into a table of its own keeps the rows of
# the old one). The record is kept per run and step in the node's state dir, so a retry or a
# resume after a crash compares against the data from before the migration, not a half-migrated one.
# Parameters (commands are words: no shell, no expansion):
#   run      the migration command (re-runnable: a retry runs it again)
#   check    a command that succeeds once the data is at the new version (optional; none: done
#            only right after the migration succeeded in this step)
#   records  a command printing one line per table: NAME COUNT [anything] (optional)
#   point    a name for the fault-injection crash point before the migration (optional)
# The database's backup and restore are the undo: there is nothing of its own to roll back.

migration::record_file() {
  printf '%s/data_migration/%s.%s.records' "${DR_STATE_DIR:-/var/lib/drupgrade/node-state}" \
    "${DR_RUN_ID:-by-hand}" "${DR_STEP:-component}"
}

# The counts before the migration, recorded once per run and step (the records of other runs go).
migration::record() {
  local file tmp
  [[ -n $(component::param records "") ]] || return 0
  file=$(migration::record_file)
  [[ -s $file ]] && return 0
  mkdir -p "${file%/*}"
  find "${file%/*}" -name "*.${DR_STEP:-component}.records" ! -name "${file##*/}" -delete 2>/dev/null || true
  tmp=$file.tmp
  migration::counts > "$tmp" || die "无法读取迁移前的记录数（records 命令失败）" "cannot count the records before the migration (the records command failed)"
  mv -f "$tmp" "$file"
  log "迁移前的记录数：$(tr '\n' ' ' < "$file")" "records before the migration: $(tr '\n' ' ' < "$file")"
}

# NAME COUNT per table, from the product's records command.
migration::counts() {
  local out
  out=$(component::command records) || return 1
  awk 'NF >= 2 && $2 ~ /^[0-9]+$/ {print $1, $2}' <<< "$out"
}

# Every table of the record holds as many records as before; says which do not.
migration::records_kept() {
  local file now lost
  file=$(migration::record_file)
  [[ -n $(component::param records "") && -s $file ]] || return 0
  now=$(migration::counts) || { log "记录数命令失败" "the records command failed"; return 1; }
  lost=$(awk 'NR == FNR {after[$1] = $2; next}
              !($1 in after) {printf "%s: %s -> (gone); ", $1, $2; next}
              after[$1] != $2 {printf "%s: %s -> %s; ", $1, $2, after[$1]}' <(printf '%s\n' "$now") "$file")
  [[ -z $lost ]] && return 0
  log "迁移改变了业务记录数（迁移前 -> 迁移后）：$lost" "the migration changed the number of business records (before -> after): $lost"
  return 1
}

execute() {
  migration::record
  [[ -z $(component::param point "") ]] || step::point "$(component::param point)"
  component::command run
}
post_check() {
  if [[ -n $(component::param check "") ]]; then component::command check; else component::executed; fi || return 1
  migration::records_kept
}
get_progress() {
  local file
  file=$(migration::record_file)
  if [[ -s $file ]]; then printf 'records before: %s\n' "$(tr '\n' ' ' < "$file")"; fi
}
