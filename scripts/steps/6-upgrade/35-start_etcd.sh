#!/usr/bin/env bash
# Summary: start the etcd member, rejoining the cluster if it is not a member (by peer URL)
# Summary-zh: 启动Etcd服务
# Timeout: 300
# Retry: direct
# Done: this node's peer URL is a cluster member and the cluster is healthy (§4.2.3.6)
# Cleanup: nothing
# Roles: etcd
# Barrier: node
# Kind: service
# Subject: 2379
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

member() { "$DRP_LINK/bin/drp-etcd-member" list --json 2>/dev/null | grep -q "$(peer_url)"; }
peer_url() { sed -n 's/^ETCD_INITIAL_ADVERTISE_PEER_URLS=//p' "$DRP_ETC/etcd.env"; }
step::check() { drp::unit_active drp-etcd.service && drp::etcd_healthy && member; }
step::run() {
  # Members start together: one alone has no quorum, so do not block on it.
  systemctl start --no-block drp-etcd.service
  drp::wait_for 240 "Etcd 集群恢复" "the etcd cluster" drp::etcd_healthy
  if ! member; then
    log "本节点不在 Etcd 集群中，重新加入" "this node is not an etcd member: rejoining"
    "$DRP_LINK/bin/drp-etcd-member" rejoin
  fi
  step::check || die "Etcd 集群不健康" "the etcd cluster is not healthy"
}
step::main "$@"
