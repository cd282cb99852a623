#!/usr/bin/env bash
# Summary: delete the product's services
# Summary-zh: 删除服务
# Timeout: 300
# Retry: direct
# Done: no drp unit is installed
# Cleanup: nothing
# Roles: any
# Barrier: node
# Kind: service
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { ! compgen -G "$DRP_UNIT_DIR/drp*.service" > /dev/null; }
step::run() {
  drp::remove_units
  step::check || die "仍有 drp 服务未删除" "some drp units are still installed"
}
step::main "$@"
