#!/usr/bin/env bash
# Summary: upgrade the configuration after installing (new keys, version, etcd)
# Summary-zh: 安装后配置升级
# Timeout: 300
# Retry: from_unzip
# Done: drp-config-upgrade --phase post --check has nothing left to do
# Cleanup: restart at unzip after the full environment cleanup
# Roles: any
# Barrier: node
# Kind: file
# Subject: /etc/drp
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { "$DRP_LINK/bin/drp-config-upgrade" --phase post --check; }
step::run() {
  "$DRP_LINK/bin/drp-config-upgrade" --phase post
  step::check || die "配置升级后仍有未完成的变更" "the configuration still needs changes after the upgrade"
}
step::main "$@"
