#!/usr/bin/env bash
# Summary: initialise the database admin user sdba (and the product's DB users on the primary)
# Summary-zh: 初始化数据库管理员用户
# Timeout: 300
# Retry: direct
# Done: sdba logs in on this node (§4.2.3.7)
# Cleanup: nothing
# Roles: db_primary, db_replica
# Fanout: primary-first
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() { "$DRP_LINK/bin/drp-dbtool" verify-sdba > /dev/null 2>&1; }
step::run() {
  if drp::has_role db_primary; then
    "$DRP_LINK/bin/drp-dbtool" bootstrap-primary
  fi
  if step::check; then
    log "sdba 已可正常连接，不再调用 DBTool 创建" "sdba already logs in: not creating it again"
    return 0
  fi
  # CREATE USER/GRANT only (never UPDATE mysql.user): that is what broke replication (§4.2.3.7).
  "$DRP_LINK/bin/drp-dbtool" create-sdba
  "$DRP_LINK/bin/drp-dbtool" verify-sdba
}
step::main "$@"
