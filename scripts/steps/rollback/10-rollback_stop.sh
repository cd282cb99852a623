#!/usr/bin/env bash
# Summary: stop the current services
# Summary-zh: 停止当前服务
# Rollback-step: 1
# Label: stop the current services
# Label-zh: 停止当前服务
# Estimate: 30
# Timeout: 300
# Retry: direct
# Done: none of the product's units runs on the node (those its strategy names, and every loaded unit matching its unit names)
# Cleanup: nothing
# Roles: any
# Kind: service
# Subject: 8080
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
