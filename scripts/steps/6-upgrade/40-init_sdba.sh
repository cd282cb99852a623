#!/usr/bin/env bash
# Summary: initialise the database admin user (and the product's DB users on the primary)
# Summary-zh: 初始化数据库管理员用户
# Timeout: 300
# Estimate: 1
# Retry: direct
# Done: the admin user logs in on this node (§4.2.3.7)
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
