#!/usr/bin/env bash
# Summary: back up the database (L3)
# Summary-zh: 备份数据库
# Timeout: 1800
# Estimate: 1
# Retry: direct
# Done: database_backup.sql exists and ends with "-- Dump completed" (§4.2.3.3), beside the table checksums
# Cleanup: delete an incomplete dump
# Roles: any
# Rolling: first
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
