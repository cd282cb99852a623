#!/usr/bin/env bash
# Summary: start the key management service
# Summary-zh: 启动KMC服务
# Timeout: 120
# Estimate: 1
# Retry: direct
# Done: the key service runs and answers over HTTP
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8700
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
