#!/usr/bin/env bash
# Summary: verify the result: version, program and config hashes, data, services, database, etcd
# Summary-zh: 验证回滚结果（版本、程序与配置哈希、数据、服务、数据库、Etcd）
# Rollback-step: 6
# Label: verify the result
# Label-zh: 验证结果
# Estimate: 60
# Timeout: 600
# Retry: direct
# Done: never (a check)
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

step::run() {
  local v bad=() u want have
  v=$(rb::version)
  [[ $(drp::active_version) == "$v" ]] || bad+=("$(msg "版本" "version"): $(drp::active_version) != $v")
  [[ $(readlink "$DRP_LINK") == "${DRP_RELEASES##*/}/$v" ]] || bad+=("$DRP_LINK -> $(readlink "$DRP_LINK")")
  if [[ $(files::tree_hash "$(readlink -f "$DRP_LINK")") != "$(rb::field program_directory tree_sha256)" ]]; then
    rb::mark_suspect
    bad+=("$(msg "程序目录内容与清单不符（重新执行 auto_continue_from 1 将从备份解压）" \
      "program directory content differs from the manifest (auto_continue_from 1 extracts it from the backup)")")
  fi
  [[ -z $(rb::newer_releases "$v") ]] || bad+=("$(msg "残留的新版本" "releases left behind"): $(rb::newer_releases "$v" | tr '\n' ' ')")
  [[ $(files::tree_hash "$DRP_ETC") == "$(rb::field system_config tree_sha256)" ]] ||
    bad+=("$(msg "配置目录哈希与清单不符" "config hash differs from the manifest") ($DRP_ETC)")
  "$DRP_LINK/bin/drp-seed" verify-files > /dev/null 2>&1 || bad+=("$(msg "本地数据校验失败" "local data fails its checksums") ($DRP_DATA)")
  for u in drp-db drp-etcd drp-kmc drp-app; do
    [[ -e $DRP_UNIT_DIR/$u.service ]] || continue
    drp::unit_active "$u.service" || bad+=("$u $(msg "未运行" "is not active")")
  done
  drp::has_role app && ! drp::health_ok "$v" && bad+=("drp-app /health: $(drp::health 2>&1 | head -c 300)")
  if drp::is_db; then
    "$DRP_LINK/bin/drp-dbtool" verify-sdba > /dev/null 2>&1 || bad+=(sdba)
    # A replica's threads may still be connecting to the restored primary: give them a moment.
    wait::until 30 "数据库复制" "replication" "$DRP_LINK/bin/drp-dbtool" repl-status ||
      bad+=("$(msg "数据库复制" "replication"): $("$DRP_LINK/bin/drp-dbtool" repl-status 2>&1 |
        grep -E '^(io_running|sql_running|last_error):' | tr '\n' ' ')")
    [[ $("$DRP_LINK/bin/drp-dbtool" schema-version 2>/dev/null) == "$v" ]] || bad+=("$(msg "数据库结构版本" "schema version") != $v")
    # A replica may still apply the last events: give it a moment.
    wait::until 30 "数据表校验和" "the tables' checksums" rb::db_checksums_equal "$DRP_LINK/bin" ||
      bad+=("$(msg "数据表校验和与备份不一致" "table checksums differ from the backup's")")
  fi
  if drp::has_role etcd && [[ -f $(rb::dir)/etcd_keys.json ]]; then
    want=$(rb::etcd_backup_keys | grep '^/drp/config/' | LC_ALL=C sort)
    have=$(rb::etcd_live_keys /drp/config/ | LC_ALL=C sort)
    [[ $want == "$have" ]] || bad+=("$(msg "Etcd 键值 /drp/config/ 与备份不符" "etcd keys /drp/config/ differ from the backup")")
  fi
  if ((${#bad[@]})); then
    die "回滚结果与备份不一致: $(IFS=';'; echo "${bad[*]}")" "the rollback result differs from the backup: $(IFS=';'; echo "${bad[*]}")"
  fi
  rb::unstage
  log "验证通过：版本 $v，与备份一致" "verified: version $v, equal to the backup"
}
step::main "$@"
