# shellcheck shell=bash
# Component service/etcd (common services: service management): start this node's etcd member
# and make sure it is a member of a healthy cluster, rejoining it when it is not (design §4.2.3.6).
# Parameters:
#   unit             the member's systemd unit
#   env_file         the member's environment file, which holds ETCD_INITIAL_ADVERTISE_PEER_URLS
#   member_list      a command (words) that lists the members (their peer URLs appear in it)
#   rejoin           a command (words) that makes this node a member again
#   seconds          how long to wait for a healthy cluster (default 240)
# shellcheck source=scripts/components/base/wait.sh
source "$COMPONENTS_DIR/base/wait.sh"

etcd::healthy() { ETCDCTL_API=3 etcdctl --command-timeout=3s endpoint health; }
etcd::peer_url() { sed -n 's/^ETCD_INITIAL_ADVERTISE_PEER_URLS=//p' "$(component::param env_file)"; }
etcd::member() { component::command member_list 2> /dev/null | grep -qF "$(etcd::peer_url)"; }

post_check() { systemctl is-active --quiet "$(component::param unit)" && etcd::healthy && etcd::member; }
execute() {
  # Members start together: one alone has no quorum, so do not block on it.
  systemctl start --no-block "$(component::param unit)"
  wait::until "$(component::param seconds 240)" "Etcd 集群恢复" "the etcd cluster" etcd::healthy
  if ! etcd::member; then
    log "本节点不在 Etcd 集群中，重新加入" "this node is not an etcd member: rejoining"
    component::command rejoin
  fi
}
get_progress() { etcd::healthy 2>&1 | head -n 3; }
