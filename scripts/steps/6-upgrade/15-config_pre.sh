#!/usr/bin/env bash
# Summary: upgrade the configuration before installing (format conversion)
# Summary-zh: 安装前配置升级
# Timeout: 300
# Retry: from_unzip
# Done: drp-config-upgrade --phase pre --check has nothing left to do
# Cleanup: restart at unzip after the full environment cleanup
# Roles: any
# Barrier: node
# Kind: file
# Subject: /etc/drp
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

tool() { printf '%s/bin/drp-config-upgrade' "$(drp::unpack_dir)"; }
step::check() { "$(tool)" --phase pre --check; }
step::run() {
  "$(tool)" --phase pre
  step::point "after converting"
  step::check || die "配置升级后仍有未完成的变更" "the configuration still needs changes after the upgrade"
}
step::main "$@"
