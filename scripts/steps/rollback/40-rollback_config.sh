#!/usr/bin/env bash
# Summary: restore the system config (L1: /etc/drp, units) and the local data (L4)
# Summary-zh: 恢复系统配置（/etc/drp、服务单元）与本地业务数据
# Rollback-step: 4
# Label: restore the system config
# Label-zh: 恢复系统配置
# Estimate: 30
# Parallel-group: restore
# Timeout: 900
# Retry: direct
# Done: /etc/drp and the local data have the manifest's content hashes, and the units are the backup's
# Cleanup: nothing (the next run restores from scratch)
# Roles: any
# Kind: file
# Subject: /etc/drp
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

units_now() {
  find "$DRP_UNIT_DIR" -maxdepth 2 -name 'drp*' ! -type d -printf "${DRP_UNIT_DIR#/}/%P\n" | LC_ALL=C sort
}
units_backup() { tar -tzf "$(rb::dir)/system_config.tar.gz" | grep "^${DRP_UNIT_DIR#/}/" | grep -v '/$' | LC_ALL=C sort; }
step::check() {
  [[ -d $DRP_ETC && $(files::tree_hash "$DRP_ETC") == "$(rb::field system_config tree_sha256)" ]] &&
    [[ $(units_now) == "$(units_backup)" ]] &&
    [[ -d $DRP_DATA && $(files::tree_hash "$DRP_DATA") == "$(rb::field local_data tree_sha256)" ]]
}
step::run() {
  local f
  log "恢复系统配置" "restoring the system configuration"
  while IFS= read -r f; do [[ -n $f ]] && rm -f "/$f"; done < <(units_now)
  find "$DRP_UNIT_DIR" -maxdepth 1 -type d -name 'drp*.wants' -empty -delete
  rm -rf "${DRP_ETC:?}"
  tar -C / --numeric-owner -xzpf "$(rb::dir)/system_config.tar.gz"
  systemctl daemon-reload
  step::point "after the configuration"
  log "恢复本地业务数据 $DRP_DATA" "restoring the local data $DRP_DATA"
  rm -rf "${DRP_DATA:?}"
  tar -C / --numeric-owner -xzpf "$(rb::dir)/local_data.tar.gz"
  [[ $(files::tree_hash "$DRP_ETC") == "$(rb::field system_config tree_sha256)" ]] ||
    die "恢复后的 $DRP_ETC 与备份清单不符" "the restored $DRP_ETC differs from the manifest"
  [[ $(files::tree_hash "$DRP_DATA") == "$(rb::field local_data tree_sha256)" ]] ||
    die "恢复后的 $DRP_DATA 与备份清单不符" "the restored $DRP_DATA differs from the manifest"
  log "系统配置与本地数据已恢复" "the configuration and the local data are restored"
}
step::main "$@"
