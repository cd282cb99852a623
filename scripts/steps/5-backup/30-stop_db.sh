#!/usr/bin/env bash
# Summary: stop the database service
# Summary-zh: 停止数据库服务
# Timeout: 300
# Retry: direct
# Done: drp-db is not running
# Cleanup: nothing
# Roles: db_primary, db_replica
# Barrier: node
# Kind: service
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { ! drp::unit_active drp-db.service; }
step::run() { drp::stop_unit drp-db.service; }
step::main "$@"
