#!/usr/bin/env bash
# Summary: start the etcd member, rejoining the cluster if it is not a member (by peer URL)
# Summary-zh: 启动Etcd服务
# Timeout: 300
# Estimate: 2
# Retry: direct
# Done: this node's peer URL is a cluster member and the cluster is healthy (§4.2.3.6)
# Cleanup: nothing
# Roles: any
# Barrier: node
# Kind: service
# Subject: 2379
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
