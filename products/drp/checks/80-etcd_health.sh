#!/usr/bin/env bash
# Summary: the etcd member of this node is healthy
# Summary-zh: 本节点的 etcd 成员健康
# Roles: etcd
# Timeout: 60
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../../../lib/check.sh"  # products/<name>/checks/ in the node tool

check::run() {
  local out
  if out=$(ETCDCTL_API=3 etcdctl --command-timeout=5s endpoint health 2>&1); then
    check::item "$out"
    check::result pass "etcd 健康" "etcd is healthy"
  else
    check::item "$(printf '%s' "$out" | tail -n 2)"
    check::result fail "etcd 不健康：$(printf '%s' "$out" | tail -n 1)" "etcd is unhealthy: $(printf '%s' "$out" | tail -n 1)" \
      "请查看 journalctl -u drp-etcd 并启动 drp-etcd；确认集群多数成员在线（etcdctl member list）" \
      "see journalctl -u drp-etcd and start drp-etcd; make sure most members are up (etcdctl member list)"
  fi
}
check::main "$@"
