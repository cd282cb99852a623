#!/usr/bin/env bash
# Summary: create the new service database (drp_audit from 2.0.0)
# Summary-zh: 创建新服务数据库
# Timeout: 300
# Retry: direct
# Done: never (creation is re-runnable)
# Cleanup: nothing
# Roles: db_primary
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::run() { "$DRP_LINK/bin/drp-dbtool" create-service-db; }
step::main "$@"
