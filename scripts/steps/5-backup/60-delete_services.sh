#!/usr/bin/env bash
# Summary: delete the product's services
# Summary-zh: 删除服务
# Timeout: 300
# Estimate: 3
# Retry: direct
# Done: none of the product's units is installed
# Cleanup: nothing
# Roles: any
# Barrier: cluster
# Kind: service
# Barrier cluster: no node deletes its services before every node's backup is complete and the
# controller collected it (collect_manifest); another node's backup still reads the etcd cluster.
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/component.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/component.sh"

component::use_binding
step::main "$@"
