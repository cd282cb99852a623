#!/usr/bin/env bash
# Summary: every plugin that runs on this node can be isolated as its type asks (cgroups, bwrap, setpriv)
# Summary-zh: 在本节点运行的每个插件都能按其类型隔离（cgroup、bwrap、setpriv）
# Roles: any
# Timeout: 30
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"
# shellcheck source=scripts/lib/isolation.sh
source "$(dirname "$(readlink -f "$0")")/../lib/isolation.sh"

check::run() {
  local dir=${DR_TOOL_DIR:-/opt/drupgrade}/plugins d type hook roles unconfined missing n=0 bad=0 r mine
  mine=",${DR_ROLES:-},"
  for d in "$dir"/*/; do
    [[ -r $d/plugin.env ]] || continue
    type=$(sed -n 's/^DR_PLUGIN_TYPE=//p' "$d/plugin.env")
    hook=$(sed -n 's/^DR_PLUGIN_HOOK=//p' "$d/plugin.env")
    roles=$(sed -n 's/^DR_PLUGIN_ROLES=//p' "$d/plugin.env")
    unconfined=$(sed -n 's/^DR_PLUGIN_UNCONFINED=//p' "$d/plugin.env")
    if [[ -n $roles ]]; then
      local here=0
      for r in ${roles//,/ }; do [[ $mine == *",$r,"* ]] && here=1; done
      ((here)) || continue
    fi
    n=$((n + 1))
    missing=$(plugin::missing "$type" | paste -sd, -)
    [[ -n $missing ]] || continue
    check::item "$(basename "$d") ($type, $hook): $missing"
    [[ $unconfined == yes ]] || bad=1
  done
  if ((n == 0)); then
    check::result pass "本节点不运行插件" "no plugin runs on this node"
  elif ((bad)); then
    check::result fail "插件隔离检查失败：本节点缺少插件隔离所需的机制（见上面的明细），这些插件不会在无隔离的情况下运行" \
      "plugin isolation check failed: this node lacks what its plugins are isolated with (see the items above); they never run unconfined" \
      "请安装缺少的软件包（bubblewrap、util-linux 的 setpriv、systemd），或在 upgrade.ini [plugins] 中设置 allow_unconfined = yes" \
      "install what is missing (bubblewrap, setpriv of util-linux, systemd), or set allow_unconfined = yes in [plugins] of upgrade.ini"
  else
    check::result pass "本节点的 $n 个插件均可按类型隔离" "the $n plugin(s) of this node can be isolated as their types ask"
  fi
}
check::main "$@"
