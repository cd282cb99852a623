#!/usr/bin/env bash
# Summary: start the services
# Summary-zh: 启动服务
# Timeout: 300
# Estimate: 1
# Retry: direct
# Done: the services run and the health endpoint answers with status ok and the new version
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
