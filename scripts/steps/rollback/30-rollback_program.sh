#!/usr/bin/env bash
# Summary: restore the program directory: switch back to the kept release, or extract it from the backup
# Summary-zh: 恢复程序目录（切换回保留的旧版本目录；不完整时从备份解压）
# Rollback-step: 3
# Label: restore the program directory
# Label-zh: 恢复程序目录
# Estimate: 60
# Parallel-group: restore
# Timeout: 1800
# Retry: direct
# Done: /opt/drp points at the backup's release, whose content hash equals the manifest's, and no newer release is left
# Cleanup: nothing (a staged extraction is replaced on the next run)
# Roles: any
# Kind: file
# Subject: /opt/drp-releases
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/rollback.sh"

#######################################
# The kept release is the backup's: its metadata hash equals the manifest's (paths, modes, sizes,
# mtimes: no file is read, so the check does not grow with the program's size; older manifests
# without it: the content hash), and the verify step never found its content changed.
#######################################
intact() {
  local meta
  [[ -d $DRP_RELEASES/$1 && ! -e $(rb::suspect_mark) ]] || return 1
  meta=$(rb::field program_directory meta_sha256)
  if [[ -n $meta ]]; then
    [[ $(files::tree_meta_hash "$DRP_RELEASES/$1") == "$meta" ]]
  else
    [[ $(files::tree_hash "$DRP_RELEASES/$1") == "$(rb::field program_directory tree_sha256)" ]]
  fi
}
switch() {
  local tmp=$DRP_LINK.rollback.$$
  ln -sfn "${DRP_RELEASES##*/}/$1" "$tmp"
  mv -T "$tmp" "$DRP_LINK"
  sync -f "$(dirname "$DRP_LINK")" 2>/dev/null || true
}
step::check() {
  local v
  v=$(rb::version)
  [[ $(readlink "$DRP_LINK") == "${DRP_RELEASES##*/}/$v" ]] && intact "$v" && [[ -z $(rb::newer_releases "$v") ]] &&
    [[ -z $(find "$DRP_RELEASES" -mindepth 1 -maxdepth 1 -name '.*') ]]
}
step::run() {
  local v stage r
  v=$(rb::version)
  if intact "$v"; then
    log "保留的旧版本目录 $DRP_RELEASES/$v 完整，直接切换" "the kept release $DRP_RELEASES/$v is intact: switching to it"
  else
    log "旧版本目录缺失或已改变，从备份解压" "the kept release is missing or changed: extracting it from the backup"
    stage=$DRP_RELEASES/.$v.rollback
    rm -rf "$stage"
    mkdir -p "$stage"
    tar -C "$stage" -xzf "$(rb::dir)/program_directory.tar.gz"
    step::point "after extracting the program directory"
    [[ $(files::tree_hash "$stage/${DRP_RELEASES#/}/$v") == "$(rb::field program_directory tree_sha256)" ]] ||
      die "解压出的程序目录与备份清单不符" "the extracted program directory differs from the manifest"
    rm -rf "${DRP_RELEASES:?}/$v"
    mv -T "$stage/${DRP_RELEASES#/}/$v" "$DRP_RELEASES/$v"
    rm -rf "$stage" "$(rb::suspect_mark)"
  fi
  switch "$v"
  while IFS= read -r r; do
    [[ -n $r ]] || continue
    log "删除升级安装的版本 $r" "removing release $r that the upgrade installed"
    rm -rf "${DRP_RELEASES:?}/$r"
  done < <(rb::newer_releases "$v")
  # What an interrupted install or extraction leaves behind (drp-release stages beside the releases).
  find "$DRP_RELEASES" -mindepth 1 -maxdepth 1 -name '.*' -exec rm -rf {} +
  step::check || die "程序目录恢复后校验失败" "the restored program directory does not verify"
  log "程序目录已恢复为 $v" "the program directory is $v again"
}
step::main "$@"
