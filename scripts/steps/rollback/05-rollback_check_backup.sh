#!/usr/bin/env bash
# Summary: check the backup before anything is touched: manifest, sha256 of every file, dump
# Summary-zh: 回滚前校验备份（清单、每个文件的 sha256、数据库导出）
# Timeout: 1800
# Retry: direct
# Done: never (a check; it changes nothing)
# Cleanup: nothing
# Roles: any
# Kind: file
# Subject: /backup
# Lock: none
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

step::run() {
  local dir f want file
  dir=$(rb::dir)
  [[ -d $dir ]] || die "备份目录 $dir 不存在" "the backup directory $dir does not exist"
  [[ -f $(rb::manifest) ]] || die "备份清单 $(rb::manifest) 不存在" "the backup manifest $(rb::manifest) is missing"
  grep -q '"backup_status": "completed"' "$(rb::manifest)" ||
    die "备份 $DR_BACKUP_ID 未完成（清单中 backup_status 不是 completed）" "backup $DR_BACKUP_ID is not complete (backup_status is not completed)"
  grep -q '"verification_passed": true' "$(rb::manifest)" ||
    die "备份 $DR_BACKUP_ID 未通过校验（清单中 verification_passed 不是 true）" "backup $DR_BACKUP_ID did not pass its verification (verification_passed is not true)"
  # Fields that name directories and files are checked before any of them is used.
  rb::version > /dev/null
  for f in program_directory system_config local_data database_backup database_checksums etcd_keys; do
    rb::file "$f" > /dev/null
  done
  # Every file's sha256 at once (rb::check_files), the results then compared in the manifest's
  # order: a missing file first, then a wrong hash. The archives are not listed again: the
  # backup's own verification (backup::verify) listed them, and a matching sha256 proves these are
  # the bytes it listed (the controller compares the node's manifest with its own copy).
  local -A want=() name=()
  local files=() found line
  for f in program_directory system_config local_data database_backup database_checksums etcd_keys; do
    want[$f]=$(rb::field "$f" sha256)
    name[$f]=$(rb::file "$f")
    [[ -n ${want[$f]} ]] || continue
    file=$dir/${name[$f]}
    [[ -f $file ]] || die "备份文件 $file 不存在" "the backup file $file is missing"
    files+=("$file")
  done
  for f in program_directory system_config local_data; do
    [[ -n ${want[$f]} ]] || die "备份清单缺少 $f" "the manifest has no $f entry"
  done
  found=$'\n'
  while IFS= read -r line; do found+=$line$'\n'; done < <(rb::check_files "${files[@]}")
  for f in program_directory system_config local_data database_backup database_checksums etcd_keys; do
    [[ -n ${want[$f]} ]] || continue
    file=$dir/${name[$f]}
    [[ $found == *$'\n'"$file=${want[$f]}"$'\n'* ]] ||
      die "备份文件 $file 已损坏（sha256 与清单不符）" "the backup file $file is corrupted (its sha256 differs from the manifest)"
  done
  if [[ -n ${want[database_backup]} ]]; then
    tail -c 200 "$dir/database_backup.sql" | grep -q -- '-- Dump completed' ||
      die "数据库备份不完整（缺少 Dump completed 标记）" "the database dump is incomplete (no Dump completed line)"
  fi
  log "备份 $DR_BACKUP_ID 校验通过（版本 $(rb::version)）" "backup $DR_BACKUP_ID verifies (version $(rb::version))"
}
step::main "$@"
