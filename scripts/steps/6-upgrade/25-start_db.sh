#!/usr/bin/env bash
# Summary: start the database service
# Summary-zh: 启动数据库服务
# Timeout: 300
# Retry: direct
# Done: drp-db answers
# Cleanup: nothing
# Roles: db_primary, db_replica
# Fanout: primary-first
# Kind: service
# Subject: 3306
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { drp::unit_active drp-db.service && "$DRP_LINK/bin/drp-dbtool" wait-ready 1; }
step::run() {
  systemctl start drp-db.service
  "$DRP_LINK/bin/drp-dbtool" wait-ready 120
}
step::main "$@"
