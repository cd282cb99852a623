#!/usr/bin/env bash
# Summary: upgrade the database data (data migrations)
# Summary-zh: 数据库数据升级
# Timeout: 1800
# Retry: from_unzip
# Done: every data migration up to the new version is recorded
# Cleanup: restart at unzip after the full environment cleanup
# Roles: db_primary
# Barrier: node
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::run() {
  step::point "before the data migration"
  "$DRP_LINK/bin/drp-migrate" --kind data
  [[ $("$DRP_LINK/bin/drp-dbtool" schema-version) == "$DR_TO" ]] ||
    die "数据库版本不是 $DR_TO" "the schema is not at $DR_TO"
}
step::main "$@"
