#!/usr/bin/env bash
# Summary: start the database service
# Summary-zh: 启动数据库服务
# Timeout: 300
# Estimate: 2
# Retry: direct
# Done: the database service runs and answers
# Cleanup: nothing
# Roles: any
# Fanout: primary-first
# Kind: service
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
