#!/usr/bin/env bash
# Summary: migrate the database schema
# Summary-zh: 执行数据库migrate
# Timeout: 1800
# Estimate: 1
# Retry: from_unzip
# Done: every schema migration up to the new version is recorded
# Cleanup: restart at unzip after the full environment cleanup
# Roles: any
# Rolling: first
# Barrier: node
# Kind: db
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
