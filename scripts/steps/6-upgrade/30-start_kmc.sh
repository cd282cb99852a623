#!/usr/bin/env bash
# Summary: start the key management service
# Summary-zh: 启动KMC服务
# Timeout: 120
# Retry: direct
# Done: KMC answers on 127.0.0.1:8700
# Cleanup: nothing
# Roles: kmc
# Kind: service
# Subject: 8700
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { drp::unit_active drp-kmc.service && drp::kmc_healthy; }
step::run() {
  systemctl start drp-kmc.service
  drp::wait_for 60 "KMC 服务" "KMC" drp::kmc_healthy
}
step::main "$@"
