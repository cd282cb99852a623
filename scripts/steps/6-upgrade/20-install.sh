#!/usr/bin/env bash
# Summary: upgrade-mode install: new program beside the old, switch to it, new units, fresh DB directory
# Summary-zh: 升级模式安装（新程序目录与旧目录并存并切换，安装新服务，初始化新数据库目录）
# Timeout: 600
# Retry: from_unzip
# Done: /opt/drp points at the new release, which verifies, and the units are installed
# Cleanup: restart at unzip after the full environment cleanup
# Roles: any
# Barrier: node
# Kind: file
# Subject: /opt/drp-releases
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() {
  [[ $(drp::active_version) == "$DR_TO" ]] && "$DRP_LINK/bin/drp-release" verify "$DR_TO" > /dev/null &&
    [[ -e $DRP_UNIT_DIR/drp.target ]]
}
step::run() {
  local dir
  dir=$(drp::unpack_dir)
  [[ -d $DRP_RELEASES/$DR_FROM ]] || die "旧版本程序目录 $DRP_RELEASES/$DR_FROM 不存在" "the old release $DRP_RELEASES/$DR_FROM is missing"
  "$dir/bin/drp-release" install
  "$dir/bin/drp-release" activate "$DR_TO"
  step::point "after switching the program"
  "$DRP_LINK/bin/drp-units" install "$DR_ROLES"
  if drp::is_db; then
    # The new version's database starts from a fresh directory; its data is imported from the
    # backup dump (import_db). The old directory is kept until the upgrade is verified.
    if [[ -d $DRP_DATADIR && ! -d $DRP_DATADIR_KEPT ]]; then
      mv "$DRP_DATADIR" "$DRP_DATADIR_KEPT"
    fi
    rm -rf "${DRP_DATADIR:?}"
    "$DRP_LINK/bin/drp-dbtool" init-datadir
  fi
  step::check || die "安装结果校验失败" "the installation does not verify"
}
step::main "$@"
