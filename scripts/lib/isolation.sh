# shellcheck shell=bash
# What a node has to isolate plugins with (design §4.5.1; docs/plugins.md): self-contained, so that
# the controller can send it as it is (`upgrade.sh plugins --check`) to a node that has no tool yet,
# and scripts/lib/plugin.sh sources it. Sourced, never executed.

#######################################
# Outputs: systemd (systemd-run scopes), cgroupfs (cgroups made here) or nothing
#######################################
plugin::cgroup_tool() {
  if [[ $(cat /proc/1/comm 2>/dev/null) == systemd ]] && command -v systemd-run >/dev/null 2>&1; then
    echo systemd
  elif [[ -w /sys/fs/cgroup/cgroup.procs || -w /sys/fs/cgroup/memory/cgroup.procs ]]; then
    echo cgroupfs
  fi
}

#######################################
# The mechanisms a plugin type needs that this node lacks, one word each (nothing: all there).
# Arguments: type
#######################################
plugin::missing() {
  local type=$1
  [[ -n $(plugin::cgroup_tool) ]] || echo "cgroups"
  if [[ $type == third_party ]]; then
    command -v bwrap >/dev/null 2>&1 || echo "bwrap"
    command -v setpriv >/dev/null 2>&1 || echo "setpriv"
  fi
  return 0
}


#######################################
# One line per type: TYPE<TAB>what it lacks (comma separated) or ok<TAB>the cgroup tool.
# Arguments: types
# Returns: 1 when a type lacks something
#######################################
plugin::report() {
  local type missing bad=0
  for type in "$@"; do
    missing=$(plugin::missing "$type" | paste -sd, -)
    printf '%s\t%s\t%s\n' "$type" "${missing:-ok}" "$(plugin::cgroup_tool)"
    [[ -z $missing ]] || bad=1
  done
  return "$bad"
}
