#!/usr/bin/env bash
# Summary: import the database data from the backup (the replica re-syncs from the primary)
# Summary-zh: 导入数据库数据
# Timeout: 1800
# Estimate: 1
# Retry: direct
# Done: never (a re-import replaces the tables with the dump's)
# Cleanup: nothing
# Roles: any
# Fanout: primary-first
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
