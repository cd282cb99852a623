# shellcheck shell=bash
# The plugin sandbox of design §4.5 (docs/plugins.md): one plugin run, isolated and limited by its
# type, watched until it ends. Sourced by scripts/bin/drplugin, never executed.
#
# A plugin on a node is the directory $DR_TOOL_DIR/plugins/NAME: its files as the vendor wrote them
# and plugin.env, the controller's resolved manifest (DR_PLUGIN_* lines: type, entry, timeout,
# limits, the paths a third-party plugin must not see). The node never parses plugin.json.
#
# | type        | isolation                                              | limits (effective)   |
# | core        | the caller's process tree, a scope of its own          | memory, CPU, tasks   |
# | business    | its own session (setsid) in a scope of its own         | memory, CPU, tasks   |
# | third_party | + mount, PID, IPC, UTS, network namespaces (bwrap),    | memory, CPU, tasks   |
# |             |   read-only system, only its work dir writable, user   |                      |
# |             |   nobody without capabilities, secrets hidden          |                      |
# | database    | like business; the SQL it leaves in $DR_PLUGIN_SQL runs | memory, CPU, tasks  |
# |             |   in one transaction of the product's database tool    |                      |
# The scope is a systemd scope (systemd-run --scope) where systemd is PID 1, else a cgroup made
# here (v1 memory, cpu, pids hierarchies, or v2). Timeout or crash end the whole scope.
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=scripts/lib/isolation.sh
source "$(dirname "${BASH_SOURCE[0]}")/isolation.sh"

readonly PLUGIN_NOBODY=65534
PLUGIN_STATE=${DR_PLUGIN_STATE:-/var/lib/drupgrade/plugins}
export PLUGIN_SAMPLE=${DR_PLUGIN_SAMPLE:-0.5}  # seconds between two samples of the monitor

#######################################
# Load a plugin's resolved manifest (DR_PLUGIN_* lines only; values are data, never code).
# Arguments: plugin directory
#######################################
plugin::load() {
  local dir=$1 key value
  [[ -r $dir/plugin.env ]] || die 2 "插件 ${dir##*/} 没有 plugin.env（由控制器写入）：请重新执行 upgrade.sh plugins --check 或重新分发工具" \
    "plugin ${dir##*/} has no plugin.env (the controller writes it): run 'upgrade.sh plugins --check' or distribute the tool again"
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ $key =~ ^DR_PLUGIN_[A-Z0-9_]+$ ]] || continue
    printf -v "$key" '%s' "$value"
    export "${key?}"
  done <"$dir/plugin.env"
  [[ ${DR_PLUGIN_TYPE:-} =~ ^(core|business|third_party|database)$ ]] \
    || die 2 "插件 ${dir##*/} 的类型无效：${DR_PLUGIN_TYPE:-}" "plugin ${dir##*/} has no valid type: ${DR_PLUGIN_TYPE:-}"
}

#######################################
# The cgroup directory of a process in one hierarchy: a v1 controller (memory, cpu, pids) or
# "unified" (the v2 tree, mounted at /sys/fs/cgroup or, hybrid, /sys/fs/cgroup/unified).
# Arguments: pid, controller
#######################################
plugin::cgroup_dir() {
  local pid=$1 ctl=$2 line path
  if [[ $ctl == unified ]]; then
    path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null) || return 0
    if [[ -d /sys/fs/cgroup/unified ]]; then echo "/sys/fs/cgroup/unified$path"; else echo "/sys/fs/cgroup$path"; fi
    return 0
  fi
  while IFS= read -r line; do
    [[ $line =~ ^[0-9]+:([^:]*):(.*)$ ]] || continue
    [[ ,${BASH_REMATCH[1]}, == *",$ctl,"* ]] && { echo "/sys/fs/cgroup/$ctl${BASH_REMATCH[2]}"; return 0; }
  done <"/proc/$pid/cgroup" 2>/dev/null
  return 0
}

#######################################
# One sample of a cgroup's use: "MEMORY_KB PEAK_KB CPU_MS OOM_KILLS" of process pid's cgroups.
# Arguments: pid
#######################################
plugin::sample() {
  local pid=$1 mem uni cur=0 peak=0 cpu=0 oom=0
  mem=$(plugin::cgroup_dir "$pid" memory)
  uni=$(plugin::cgroup_dir "$pid" unified)
  if [[ -n $mem && -r $mem/memory.usage_in_bytes ]]; then  # v1
    cur=$(plugin::read "$mem/memory.usage_in_bytes")
    peak=$(plugin::read "$mem/memory.max_usage_in_bytes")
    oom=$(sed -n 's/^oom_kill //p' "$mem/memory.oom_control" 2>/dev/null || true)
  elif [[ -n $uni && -r $uni/memory.current ]]; then  # v2
    cur=$(plugin::read "$uni/memory.current")
    peak=$(plugin::read "$uni/memory.peak")
    ((peak >= cur)) || peak=$cur
    oom=$(sed -n 's/^oom_kill //p' "$uni/memory.events" 2>/dev/null || true)
  fi
  if [[ -n $uni && -r $uni/cpu.stat ]]; then
    cpu=$(sed -n 's/^usage_usec //p' "$uni/cpu.stat" 2>/dev/null || true)
    cpu=$((${cpu:-0} / 1000))
  fi
  echo "$((cur / 1024)) $((peak / 1024)) $cpu ${oom:-0}"
}

#######################################
# A cgroup file's number, 0 when it is gone (the scope ended between two reads).
#######################################
plugin::read() {
  local v
  v=$(cat "$1" 2>/dev/null || true)
  [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

#######################################
# Every process of pid's scope ends now (SIGKILL), the whole tree, whatever it forked.
# Arguments: pid, unit (systemd scope name or empty)
#######################################
plugin::kill_scope() {
  local pid=$1 unit=$2 dir p
  if [[ -n $unit ]] && systemctl kill --signal=KILL "$unit" 2>/dev/null; then
    return 0
  fi
  dir=$(plugin::cgroup_dir "$pid" pids)
  [[ -n $dir && -r $dir/cgroup.procs ]] || dir=$(plugin::cgroup_dir "$pid" unified)
  if [[ -w $dir/cgroup.kill ]]; then
    echo 1 >"$dir/cgroup.kill"
  elif [[ -r $dir/cgroup.procs ]]; then
    while IFS= read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$dir/cgroup.procs"
  fi
  kill -KILL "$pid" 2>/dev/null || true
}

#######################################
# Start a command in a new cgroup scope with the plugin's limits, in the background: sets
# PLUGIN_PID (the command's pid) and PLUGIN_UNIT (the systemd scope, or empty).
# Arguments: scope name, command...
#######################################
# shellcheck disable=SC2034  # PLUGIN_PID and PLUGIN_UNIT are this function's results
plugin::start_scoped() {
  local name=$1 tool ctl dir
  shift
  tool=$(plugin::cgroup_tool)
  PLUGIN_UNIT=""
  case $tool in
    systemd)
      PLUGIN_UNIT=$name.scope
      systemd-run --scope --quiet --collect --unit="$name" \
        -p MemoryMax="${DR_PLUGIN_MEMORY_MB}M" -p MemorySwapMax=0 \
        -p CPUQuota="${DR_PLUGIN_CPU_PERCENT}%" -p TasksMax="$DR_PLUGIN_TASKS" -- "$@" &
      PLUGIN_PID=$!
      ;;
    cgroupfs)
      (
        if [[ -d /sys/fs/cgroup/memory ]]; then  # v1: one cgroup per hierarchy
          for ctl in memory cpu pids; do
            dir=$(plugin::cgroup_dir "$BASHPID" "$ctl")/$name
            mkdir -p "$dir"
            case $ctl in
              memory) echo "$((DR_PLUGIN_MEMORY_MB * 1024 * 1024))" >"$dir/memory.limit_in_bytes" ;;
              cpu) echo 100000 >"$dir/cpu.cfs_period_us"; echo "$((DR_PLUGIN_CPU_PERCENT * 1000))" >"$dir/cpu.cfs_quota_us" ;;
              pids) echo "$DR_PLUGIN_TASKS" >"$dir/pids.max" ;;
            esac
            echo "$BASHPID" >"$dir/cgroup.procs"
          done
        else  # v2
          dir=$(plugin::cgroup_dir "$BASHPID" unified)/$name
          mkdir -p "$dir"
          echo "$((DR_PLUGIN_MEMORY_MB * 1024 * 1024))" >"$dir/memory.max"
          echo "$((DR_PLUGIN_CPU_PERCENT * 1000)) 100000" >"$dir/cpu.max"
          echo "$DR_PLUGIN_TASKS" >"$dir/pids.max"
          echo "$BASHPID" >"$dir/cgroup.procs"
        fi
        exec "$@"
      ) &
      PLUGIN_PID=$!
      ;;
    *)
      "$@" &
      PLUGIN_PID=$!
      ;;
  esac
}

#######################################
# The command that runs the entry inside the scope, isolated as its type says.
# Arguments: plugin dir, work dir
# Outputs: the words of the command, one per line
#######################################
plugin::isolated_command() {
  local dir=$1 work=$2 entry hide p parents=() i k
  entry=$dir/$DR_PLUGIN_ENTRY
  case $DR_PLUGIN_TYPE in
    core) printf '%s\n' "$entry" ;;
    business | database) printf '%s\n' setsid --wait "$entry" ;;
    third_party)
      printf '%s\n' bwrap --unshare-ipc --unshare-pid --unshare-uts --unshare-net --unshare-cgroup-try \
        --die-with-parent --new-session --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /run \
        --tmpfs /root --tmpfs "$PLUGIN_STATE"
      # hidden: the system's secrets, and what the controller names (the tool, its state, the product's secrets)
      IFS=: read -r -a hide <<<"/etc/shadow:/etc/gshadow:/etc/ssh:${DR_PLUGIN_HIDE:-}"
      for p in "${hide[@]}"; do
        if [[ -d $p ]]; then printf '%s\n' --tmpfs "$p"; elif [[ -e $p ]]; then printf '%s\n' --ro-bind /dev/null "$p"; fi
      done
      # the parents of the plugin's and the work dir are new directories of the sandbox (under a
      # hidden tree): searchable, so that nobody reaches the two
      for p in "$dir" "$work"; do
        i=${#parents[@]}
        while p=${p%/*}; [[ -n $p ]]; do parents+=("$p"); done
        for ((k = ${#parents[@]} - 1; k >= i; k--)); do printf '%s\n' --perms 0755 --dir "${parents[$k]}"; done
      done
      printf '%s\n' --ro-bind "$dir" "$dir" --bind "$work" "$work" --chdir "$work" -- setpriv --reuid="$PLUGIN_NOBODY" --regid="$PLUGIN_NOBODY" --clear-groups \
        --inh-caps=-all --bounding-set=-all --no-new-privs "$entry"
      ;;
  esac
}
