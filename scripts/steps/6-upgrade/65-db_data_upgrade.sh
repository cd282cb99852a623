#!/usr/bin/env bash
# Summary: upgrade the database data (data migrations)
# Summary-zh: 数据库数据升级
# Timeout: 1800
# Estimate: 2
# Retry: from_unzip
# Done: the recorded schema version is the new version
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
