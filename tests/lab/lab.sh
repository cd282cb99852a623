#!/usr/bin/env bash
# lab.sh: the drupgrade test lab: N nodes, each namespaces + overlays + systemd + sshd.
#
# Usage: tests/lab/lab.sh COMMAND [ARGS]
#   up [--nodes N] [--scale]   start (or repair; or grow, or shrink) the lab; N defaults to its
#                              size, else 3 (max 20); --scale: sshd-only nodes (tini as
#                              PID 1, no systemd); the mode defaults to the lab's current one
#   down [--keep-state]        stop every node, remove netns/links/cgroups/state
#   status [--json]            table: node, address, PID 1, systemd state, sshd reachable
#                              (exit 1 if a node is down or unreachable)
#   exec NODE -- CMD...        run CMD inside NODE (nsenter, joins its cgroups first)
#   fault ACTION NODE [ARGS]   cut|restore|rate RATE|loss P|clear|kill-sshd-sessions|
#                              kill-node|start-node|fill-disk PATH SIZE|unfill-disk PATH|
#                              bound-disk SIZE|unbound-disk
#                              fill-disk: PATH full (a full tmpfs of SIZE mounted over it, unless
#                              it is on a disk of bound-disk: then a file fills that disk);
#                              unfill-disk undoes fill-disk. bound-disk: the node's /backup a
#                              disk of its own of SIZE (a tmpfs on the host, kept across the
#                              node's restarts; the node is restarted to mount it), so that
#                              filling it hides nothing written there; unbound-disk undoes it
#   fault wan RATE [LOSS]      a WAN between the control node (this host) and the site: RATE
#                              (e.g. 20mbit) each way, LOSS (e.g. 0.005) random drop each way,
#                              node<->node traffic untouched; fault wan-clear removes it
#   paths                      print the lab's files (upgrade.ini, ssh_config, ...)
#
# Environment: LAB_NAME (default drl; prefix of netns/bridge/veth/cgroup names),
#   LAB_SUBNET (default 10.231.0; bridge .1/24, node i .(10+i)),
#   LAB_DIR (default <repo>/build/lab for drl, <repo>/build/lab-$LAB_NAME otherwise).
# See docs/testing.md, section "The lab".
set -euo pipefail

LAB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$LAB_HERE/../.." && pwd)"
# Unset LAB_NAME/LAB_SUBNET are taken from an existing lab in LAB_DIR (lab::load_env).
LAB_NAME_GIVEN="${LAB_NAME:+1}"
LAB_SUBNET_GIVEN="${LAB_SUBNET:+1}"
LAB_NAME="${LAB_NAME:-drl}"
LAB_SUBNET="${LAB_SUBNET:-10.231.0}"
if [[ "$LAB_NAME" == drl ]]; then
  LAB_DIR="${LAB_DIR:-$REPO/build/lab}"
else
  LAB_DIR="${LAB_DIR:-$REPO/build/lab-$LAB_NAME}"
fi
LAB_DIR=$(realpath -m "$LAB_DIR")
readonly LAB_HERE REPO LAB_NAME_GIVEN LAB_SUBNET_GIVEN LAB_DIR
readonly MAX_NODES=20
readonly STOP_TIMEOUT=${LAB_STOP_TIMEOUT:-15}
readonly BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-90}
readonly NODE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Files in LAB_DIR that belong to the lab (down removes exactly these plus nodes/ and state/).
readonly LAB_FILES=(lab.env hosts upgrade.ini upgrade-key.ini ssh_config known_hosts
  id_ed25519 id_ed25519.pub password nodes.json cgroups .lock)

log() {
  printf '[%s] [lab:%s] %s\n' "$(date -u +%H:%M:%S)" "$LAB_NAME" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

#######################################
# Names and addresses (interface names must stay <= 15 chars).
#######################################
lab::netns() { echo "$LAB_NAME-$1"; }
lab::veth() { echo "$LAB_NAME-n${1#node}"; }
lab::bridge() { echo "$LAB_NAME-br"; }
lab::addr() { echo "$LAB_SUBNET.$((10 + ${1#node}))"; }
lab::node_dir() { echo "$LAB_DIR/nodes/$1"; }

lab::check_params() {
  [[ "$LAB_NAME" =~ ^[a-z][a-z0-9]{0,9}$ ]] \
    || die "LAB_NAME '$LAB_NAME' must be 1-10 chars [a-z0-9] starting with a letter (it prefixes interface names)"
  [[ "$LAB_SUBNET" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] \
    || die "LAB_SUBNET '$LAB_SUBNET' must be three octets like 10.231.0"
  [[ "$LAB_SUBNET" == 10.* || "$LAB_SUBNET" == 192.168.* || "$LAB_SUBNET" == 172.* ]] \
    || die "LAB_SUBNET '$LAB_SUBNET' must be a private range (10.x, 172.x or 192.168.x)"
  local d
  for d in /etc /usr /var /opt /root /home /srv /run /proc /sys /dev; do
    [[ "$LAB_DIR/" == "$d/"* ]] \
      && die "LAB_DIR '$LAB_DIR' is under $d, which nodes overlay; use e.g. /tmp/$LAB_NAME or $REPO/build/lab"
  done
  return 0
}

#######################################
# Lab-wide state: lab.env records name, subnet, mode and size of the lab in LAB_DIR.
# Globals: LAB_MODE LAB_NODES (set)
#######################################
lab::load_env() {
  LAB_MODE="" LAB_NODES=0
  [[ -f "$LAB_DIR/lab.env" ]] || return 0
  local name subnet
  name=$(sed -n 's/^name=//p' "$LAB_DIR/lab.env")
  subnet=$(sed -n 's/^subnet=//p' "$LAB_DIR/lab.env")
  LAB_MODE=$(sed -n 's/^mode=//p' "$LAB_DIR/lab.env")
  LAB_NODES=$(sed -n 's/^nodes=//p' "$LAB_DIR/lab.env")
  [[ -n "$LAB_NAME_GIVEN" ]] || LAB_NAME=$name
  [[ -n "$LAB_SUBNET_GIVEN" ]] || LAB_SUBNET=$subnet
  [[ "$name" == "$LAB_NAME" && "$subnet" == "$LAB_SUBNET" ]] \
    || die "$LAB_DIR holds lab '$name' ($subnet.0/24), not '$LAB_NAME' ($LAB_SUBNET.0/24); set LAB_NAME=$name LAB_SUBNET=$subnet or use another LAB_DIR"
}

lab::save_env() {
  printf 'name=%s\nsubnet=%s\nmode=%s\nnodes=%s\n' "$LAB_NAME" "$LAB_SUBNET" "$LAB_MODE" "$LAB_NODES" \
    >"$LAB_DIR/lab.env.tmp"
  mv -f "$LAB_DIR/lab.env.tmp" "$LAB_DIR/lab.env"
}

lab::nodes() {
  local i
  for ((i = 1; i <= LAB_NODES; i++)); do echo "node$i"; done
}

# A node's roles in the default product's lab layout (packaging/drp/lab.json; tests/lab/install.sh
# --product NAME rewrites them for another product).
lab::roles() {
  python3 - "$REPO/packaging/drp/lab.json" "$1" <<'PY'
import json, sys
roles = json.load(open(sys.argv[1]))["roles"]
print(", ".join(roles.get(sys.argv[2], roles["*"])))
PY
}

#######################################
# Serialise commands that change the lab (fd 9 holds the lock).
#######################################
lab::lock() {
  local holders=() netns=() fd pid stale=1
  mkdir -p "$LAB_DIR"
  exec 9>>"$LAB_DIR/.lock"
  flock -n 9 && return 0
  for fd in /run/netns/"$LAB_NAME"-node*; do
    [[ -e "$fd" ]] && netns+=("$(stat -L -c %i "$fd")")
  done
  for fd in /proc/[0-9]*/fd/*; do
    [[ "$(readlink "$fd" 2>/dev/null)" == "$LAB_DIR/.lock" ]] || continue
    pid=${fd#/proc/}
    pid=${pid%%/*}
    [[ "$pid" == "$$" ]] && continue
    holders+=("$pid")
    # Node processes of lab.sh versions before 2026-11-28 11:15 inherited the lock fd.
    [[ " ${netns[*]} " == *" $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) "* ]] || stale=0
  done
  if ((${#holders[@]} && stale)); then
    log "WARNING: $LAB_DIR/.lock is held only by processes inside the lab's nodes (${holders[*]}), a leak of an older lab.sh; replacing the lock file"
    rm -f "$LAB_DIR/.lock"
    exec 9>>"$LAB_DIR/.lock"
    flock -n 9 && return 0
  fi
  log "waiting for $LAB_DIR/.lock (held by pid ${holders[*]:-?})"
  flock -w 300 9 || die "another lab.sh (pid ${holders[*]:-?}) holds $LAB_DIR/.lock for more than 300 s; wait for it or stop it"
}

#######################################
# cgroups: the launcher's own cgroup in every v1 hierarchy, plus lab/$LAB_NAME/<node>.
# Outputs: one base dir per hierarchy (<mount>/<own cgroup>/lab/$LAB_NAME)
#######################################
lab::cg_bases_probe() {
  local mp fstype opts ctrl path id ctrls o want
  while read -r mp fstype opts; do
    want=""
    for o in ${opts//,/ }; do
      case "$o" in
        rw | ro | xattr | noprefix | clone_children | release_agent=* | cpuset_v2_mode | nsdelegate | memory_recursiveprot) ;;
        *) want+="${want:+,}$o" ;;
      esac
    done
    path=""
    while IFS=: read -r id ctrls ctrl; do
      if [[ "$fstype" == cgroup2 ]]; then
        [[ "$id" == 0 ]] && path="$ctrl"
      elif [[ "$id" != 0 && "$(tr , '\n' <<<"$ctrls" | sort | paste -sd,)" == "$(tr , '\n' <<<"$want" | sort | paste -sd,)" ]]; then
        path="$ctrl"
      fi
    done </proc/self/cgroup
    [[ -n "$path" ]] || continue
    echo "$mp${path%/}/lab/$LAB_NAME"
  done < <(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
                  if ($(i + 1) ~ /^cgroup2?$/) print $5, $(i + 1), $(i + 3) }' /proc/self/mountinfo | sort -u -k1,1)
}

# The bases are recorded at first use so that down finds them from any cgroup; a
# hierarchy missing from the record (older lab.sh: no cgroup2) is added by `up`.
lab::cg_bases() {
  if [[ ! -s "$LAB_DIR/cgroups" ]]; then
    lab::cg_bases_probe >"$LAB_DIR/cgroups.tmp"
    [[ -s "$LAB_DIR/cgroups.tmp" ]] || die "no cgroup v1 hierarchy found in /proc/self/mountinfo; the lab needs cgroup v1 (see LAB_NOTES.md)"
    mv -f "$LAB_DIR/cgroups.tmp" "$LAB_DIR/cgroups"
  fi
  cat "$LAB_DIR/cgroups"
}

lab::cg_bases_complete() {
  local base mp
  [[ -s "$LAB_DIR/cgroups" ]] || return 0
  while read -r base; do
    mp=$(cut -d/ -f1-5 <<<"$base")
    grep -q "^$mp/" "$LAB_DIR/cgroups" || echo "$base" >>"$LAB_DIR/cgroups"
  done < <(lab::cg_bases_probe)
}

# mkdir -p that copies cpuset.cpus/mems down (an empty cpuset cannot hold tasks).
# Other labs create and remove lab/ concurrently: retry when a parent vanishes.
lab::cg_mkdir() {
  local dir="$1" parent try
  [[ -d "$dir" ]] && return 0
  parent=$(dirname "$dir")
  for try in 1 2 3; do
    lab::cg_mkdir "$parent"
    if mkdir "$dir" 2>/dev/null || [[ -d "$dir" ]]; then
      if [[ -f "$dir/cpuset.cpus" ]]; then
        [[ -n "$(cat "$dir/cpuset.cpus")" ]] || cat "$parent/cpuset.cpus" >"$dir/cpuset.cpus"
        [[ -n "$(cat "$dir/cpuset.mems")" ]] || cat "$parent/cpuset.mems" >"$dir/cpuset.mems"
      fi
      return 0
    fi
    log "retrying cgroup $dir (try $try)"
  done
  die "cannot create cgroup dir $dir (is the hierarchy mounted read-write?)"
}

lab::cg_node_dirs() {
  local base
  while read -r base; do echo "$base/$1"; done < <(lab::cg_bases)
}

# Move process $2 into node $1's cgroups (its root cgroup in every hierarchy).
lab::cg_join() {
  local node="$1" pid="$2" dir
  while read -r dir; do
    lab::cg_mkdir "$dir"
    echo "$pid" >"$dir/cgroup.procs" || die "cannot move pid $pid into $dir"
  done < <(lab::cg_node_dirs "$node")
}

lab::cg_procs() {
  local dir
  while read -r dir; do
    [[ -d "$dir" ]] && find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(lab::cg_node_dirs "$1") | sort -un
}

lab::cg_remove() {
  local dir
  while read -r dir; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ ! -d "$dir" ]] || log "WARNING: cgroup $dir still exists (processes left: $(xargs <"$dir/cgroup.procs"))"
  done < <(lab::cg_node_dirs "$1")
}

#######################################
# Network: bridge (.1/24), one veth per node, no default route in the nodes.
#######################################
lab::net_bridge() {
  local br other
  br=$(lab::bridge)
  other=$(ip -o -4 addr show | awk -v a="$LAB_SUBNET.1/" -v br="$br" 'index($4, a) == 1 && $2 != br { print $2 }')
  [[ -z "$other" ]] || die "subnet $LAB_SUBNET.0/24 is already used by interface $other (another lab?); choose another LAB_SUBNET"
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add "$br" type bridge || die "cannot create bridge $br"
  fi
  ip addr replace "$LAB_SUBNET.1/24" dev "$br"
  ip link set "$br" up
}

lab::net_node() {
  local node="$1" ns veth addr
  ns=$(lab::netns "$node") veth=$(lab::veth "$node") addr=$(lab::addr "$node")
  [[ -e "/run/netns/$ns" ]] || ip netns add "$ns" || die "cannot create netns $ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$ns" link del eth0 2>/dev/null || true
    ip link add "$veth" type veth peer name eth0 netns "$ns" || die "cannot create veth $veth"
  fi
  ip link set "$veth" master "$(lab::bridge)" up
  ip -n "$ns" addr replace "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

#######################################
# Node processes.
#######################################
# Prints the host PID of the node's PID 1 if it is alive and really the node's init.
lab::pid1() {
  local node="$1" pidf pid ns
  pidf="$(lab::node_dir "$node")/pid"
  [[ -s "$pidf" ]] || return 1
  pid=$(cat "$pidf")
  [[ -d "/proc/$pid" ]] || return 1
  ns=$(stat -L -c %i "/run/netns/$(lab::netns "$node")" 2>/dev/null) || return 1
  [[ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" == "$ns" ]] || return 1
  awk '$1 == "NSpid:" { exit !(NF == 3 && $3 == 1) }' "/proc/$pid/status" 2>/dev/null || return 1
  echo "$pid"
}

lab::start_node() {
  local node="$1" dir launcher pid i c
  dir=$(lab::node_dir "$node")
  mkdir -p "$dir"
  lab::net_node "$node"
  rm -f "$dir/pid"
  log "$node: booting ($LAB_MODE mode) at $(lab::addr "$node")"
  (
    exec 9>&- # the lab lock must not live on in the node
    lab::cg_join "$node" "$BASHPID"
    exec setsid nsenter --net="/run/netns/$(lab::netns "$node")" \
      unshare -m -u -i -p -f -C --propagation private --mount-proc \
      env LAB_NODE="$node" LAB_NODE_DIR="$dir" LAB_DIR="$LAB_DIR" LAB_MODE="$LAB_MODE" \
      LAB_NAME="$LAB_NAME" "$LAB_HERE/node-init.sh"
  ) </dev/null >>"$dir/init.log" 2>&1 &
  launcher=$!
  # unshare may fork helpers first: PID 1 is the child whose innermost pid is 1.
  pid=""
  for ((i = 0; i < 200; i++)); do
    for c in $(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null || true); do
      awk '$1 == "NSpid:" { exit !(NF == 3 && $3 == 1) }' "/proc/$c/status" 2>/dev/null && pid=$c
    done
    [[ -n "$pid" ]] && break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n "$pid" ]] || die "$node did not start; see $dir/init.log"
  echo "$launcher" >"$dir/launcher.pid"
  echo "$pid" >"$dir/pid"
}

# Starts node $1 again (stopped first if it runs) and waits until it is booted.
lab::restart_node() {
  local node="$1"
  lab::stop_nodes "$node"
  lab::kill_leftovers "$node"
  lab::start_node "$node"
  lab::wait_node "$node" || die "$node did not come back; see $(lab::node_dir "$node")/console.log"
  lab::write_nodes_json
  log "$node: running again"
}

# The node's /backup a disk of its own of SIZE: a tmpfs (lab-bound) mounted on the host over the
# node dir's private/backup, which the node binds at boot (node-init.sh): it lives as long as the
# lab, across the node's restarts. The node is restarted to take it (what was in /backup stays
# hidden below it until unbound-disk).
lab::bound_disk() {
  local node="$1" size="$2" dir
  dir="$(lab::node_dir "$node")/private/backup"
  mkdir -p "$dir"
  if findmnt -n -M "$dir" -S lab-bound >/dev/null 2>&1; then
    mount -o "remount,size=$size" "$dir" || die "cannot resize the disk at $dir to $size"
    log "$node: /backup is a disk of its own of $size (resized)"
    return 0
  fi
  mount -t tmpfs -o "size=$size,mode=0755" lab-bound "$dir" || die "cannot mount a disk of $size at $dir"
  lab::restart_node "$node"
  log "$node: /backup is a disk of its own of $size"
}

# Removes the disks of bound-disk of the listed nodes (on the host; a node still running keeps
# its until it restarts).
lab::unbound_disks() {
  local node dir
  for node in "$@"; do
    dir="$(lab::node_dir "$node")/private/backup"
    while findmnt -n -M "$dir" -S lab-bound >/dev/null 2>&1; do
      umount -l "$dir" || die "cannot unmount $dir"
    done
  done
}

# Runs CMD inside node $1 (all its namespaces, its cgroups), with a clean environment.
lab::node_exec() {
  local node="$1" pid
  shift
  pid=$(lab::pid1 "$node") || die "$node is not running; start it with: $0 up (or: $0 fault start-node $node)"
  (
    lab::cg_join "$node" "$BASHPID"
    exec nsenter -t "$pid" -m -u -i -n -p -C --wd=/ \
      env -i PATH="$NODE_PATH" HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
  )
}

# Waits until node $1 is booted: init done, systemd running (or degraded), sshd listening.
lab::wait_node() {
  local node="$1" deadline state="" dir
  dir=$(lab::node_dir "$node")
  deadline=$((SECONDS + BOOT_TIMEOUT))
  while ((SECONDS < deadline)); do
    lab::pid1 "$node" >/dev/null || {
      sleep 0.3
      log "$node: PID 1 died during boot; last lines of $dir/init.log and console.log:"
      tail -n 20 "$dir/init.log" "$dir/console.log" >&2 2>/dev/null || true
      return 1
    }
    if [[ -e "$dir/firstboot.done" ]]; then
      if [[ "$LAB_MODE" == systemd ]]; then
        state=$(lab::node_exec "$node" systemctl is-system-running 2>/dev/null || true)
      else
        state=running
      fi
      if [[ "$state" == running || "$state" == degraded ]] \
        && timeout 1 bash -c "</dev/tcp/$(lab::addr "$node")/22" 2>/dev/null; then
        [[ "$state" == degraded ]] && log "$node: WARNING systemd is degraded: $(lab::node_exec "$node" systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)"
        return 0
      fi
    fi
    sleep 0.2
  done
  log "$node: not ready after ${BOOT_TIMEOUT}s (systemd: ${state:-?}); see $dir/console.log and $dir/init.log"
  return 1
}

# Stops the listed nodes: SIGRTMIN+3 to systemd (its "halt"; SIGTERM makes systemd
# re-execute itself) or SIGTERM to tini, then SIGKILL after STOP_TIMEOUT.
lab::stop_nodes() {
  local node pid sig deadline alive
  declare -A pids=()
  for node in "$@"; do
    pid=$(lab::pid1 "$node") || continue
    pids[$node]=$pid
    sig=TERM
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == systemd ]] && sig=RTMIN+3
    kill -s "$sig" "$pid" 2>/dev/null || true
  done
  ((${#pids[@]})) || return 0
  log "stopping ${!pids[*]}"
  deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    alive=()
    for node in "${!pids[@]}"; do
      [[ -d "/proc/${pids[$node]}" ]] && alive+=("$node")
    done
    ((${#alive[@]})) || break
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT}s, SIGKILL: ${alive[*]}"
      for node in "${alive[@]}"; do kill -s KILL "${pids[$node]}" 2>/dev/null || true; done
      deadline=$((SECONDS + 10))
    fi
    sleep 0.2
  done
}

# Kills what is left in a node's netns or cgroups (processes that joined them from outside).
# Prints the PIDs of all processes whose namespace of kind $1 (net, pid) has inode $2.
lab::pids_in_ns() {
  local kind="$1" want="$2" ino path
  [[ -n "$want" ]] || return 0
  while read -r ino path; do
    [[ "$ino" == "$want" ]] || continue
    path=${path#/proc/}
    echo "${path%%/*}"
  done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/"$kind" 2>/dev/null || true)
}

lab::kill_leftovers() {
  local node="$1" ns pid left=()
  ns=$(stat -L -c %i "/run/netns/$(lab::netns "$node")" 2>/dev/null || true)
  while read -r pid; do
    [[ -n "$pid" && "$pid" != "$$" ]] && left+=("$pid")
  done < <({ lab::pids_in_ns net "$ns"; lab::cg_procs "$node"; } | sort -un)
  ((${#left[@]})) || return 0
  log "$node: killing leftover processes ${left[*]}"
  kill -s KILL "${left[@]}" 2>/dev/null || true
  sleep 0.3
}

# Removes a stopped node's processes, netns, veth and cgroups (not its disk).
lab::remove_node() {
  local node="$1"
  lab::kill_leftovers "$node"
  ip netns del "$(lab::netns "$node")" 2>/dev/null || true
  ip link del "$(lab::veth "$node")" 2>/dev/null || true
  lab::cg_remove "$node"
}

#######################################
# Files for the tool and the tests.
#######################################
lab::write_secrets() {
  if [[ ! -s "$LAB_DIR/id_ed25519" ]]; then
    rm -f "$LAB_DIR/id_ed25519" "$LAB_DIR/id_ed25519.pub"
    ssh-keygen -q -t ed25519 -N "" -C "drupgrade-lab-$LAB_NAME" -f "$LAB_DIR/id_ed25519"
  fi
  if [[ ! -s "$LAB_DIR/password" ]]; then
    (
      umask 077
      head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$LAB_DIR/password"
    )
  fi
  chmod 0600 "$LAB_DIR/password" "$LAB_DIR/id_ed25519"
}

lab::write_hosts() {
  local node
  {
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    for node in $(lab::nodes); do printf '%s\t%s\n' "$(lab::addr "$node")" "$node"; done
  } >"$LAB_DIR/hosts"
}

lab::write_configs() {
  local node kind keypath password
  password=$(cat "$LAB_DIR/password")
  for kind in password key; do
    keypath="" && [[ "$kind" == key ]] && keypath="$LAB_DIR/id_ed25519"
    local out="$LAB_DIR/upgrade.ini"
    [[ "$kind" == key ]] && out="$LAB_DIR/upgrade-key.ini"
    (
      umask 077
      {
        echo "# drupgrade config for lab '$LAB_NAME' ($LAB_MODE mode), written by tests/lab/lab.sh up"
        echo "[ssh_config]"
        echo "username = root"
        if [[ "$kind" == password ]]; then echo "password = $password"; else echo "password ="; fi
        echo "private_key_path = $keypath"
        echo "port = 22"
        echo "host_key_policy = accept-new"
        for node in $(lab::nodes); do
          printf '\n[node:%s]\nhost = %s\nroles = %s\n' "$node" "$(lab::addr "$node")" "$(lab::roles "$node")"
        done
        printf '\n[paths]\nstate_dir = %s/state\n' "$LAB_DIR"
        # The drp packages are signed with the TEST-ONLY key (make packages): every lab run verifies them.
        printf '\n[packages]\nrepo = %s/build/packages\npublic_key = %s/packaging/drp/test-keys/drp-TEST-ONLY-ed25519.pub\n' \
          "$REPO" "$REPO"
      } >"$out.tmp"
    )
    mv -f "$out.tmp" "$out"
    chmod 0600 "$out"
  done
  mkdir -p "$LAB_DIR/state"
  {
    echo "# ssh_config for lab '$LAB_NAME': ssh -F $LAB_DIR/ssh_config node1"
    for node in $(lab::nodes); do
      cat <<EOF
Host $node
  HostName $(lab::addr "$node")
  User root
  Port 22
  IdentityFile $LAB_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $LAB_DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  ConnectTimeout 10
EOF
    done
  } >"$LAB_DIR/ssh_config"
}

# known_hosts from the host keys in each node's overlay (no trust on first use).
lab::write_known_hosts() {
  local node key
  for node in $(lab::nodes); do
    for key in "$(lab::node_dir "$node")"/upper/etc/ssh/ssh_host_*_key.pub; do
      [[ -f "$key" ]] || continue
      printf '%s,%s %s\n' "$node" "$(lab::addr "$node")" "$(cut -d' ' -f1,2 "$key")"
    done
  done >"$LAB_DIR/known_hosts.tmp"
  mv -f "$LAB_DIR/known_hosts.tmp" "$LAB_DIR/known_hosts"
}

lab::write_nodes_json() {
  local node pid sep=""
  {
    printf '{"lab": "%s", "subnet": "%s", "mode": "%s", "dir": "%s", "nodes": [' \
      "$LAB_NAME" "$LAB_SUBNET" "$LAB_MODE" "$LAB_DIR"
    for node in $(lab::nodes); do
      pid=$(lab::pid1 "$node" || echo null)
      printf '%s\n  {"name": "%s", "address": "%s", "roles": [%s], "pid": %s, "netns": "%s", "veth": "%s"}' \
        "$sep" "$node" "$(lab::addr "$node")" \
        "$(lab::roles "$node" | sed -E 's/[a-z_]+/"&"/g')" "$pid" "$(lab::netns "$node")" "$(lab::veth "$node")"
      sep=","
    done
    printf '\n]}\n'
  } >"$LAB_DIR/nodes.json.tmp"
  mv -f "$LAB_DIR/nodes.json.tmp" "$LAB_DIR/nodes.json"
}

#######################################
# Commands.
#######################################
#######################################
# Each node's systemd, journald and logind hold inotify instances (about 7 a node) of the host's
# per-user limit (128 by default): a few labs side by side exhaust it, and units that watch paths
# then fail with "resources" (the node is "degraded"). Raise it for the lab, never lower it.
#######################################
lab::host_limits() {
  local want=2048 have
  have=$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo "$want")
  if ((have < want)); then
    sysctl -q -w fs.inotify.max_user_instances="$want" \
      && log "fs.inotify.max_user_instances raised from $have to $want (the nodes' systemd needs inotify instances)"
  fi
}

cmd::up() {
  local nodes="" mode="" node fstype started=() failed=() waits=() i
  while (($#)); do
    case "$1" in
      --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a number" ;;
      --nodes=*) nodes="${1#*=}"; shift ;;
      --scale) mode=scale; shift ;;
      --systemd) mode=systemd; shift ;;
      *) die "up: unknown argument '$1' (usage: up [--nodes N] [--scale|--systemd])" ;;
    esac
  done
  lab::lock
  lab::load_env
  # Without --scale/--systemd an existing lab keeps its mode; a new one gets systemd.
  [[ -n "$mode" ]] || mode=${LAB_MODE:-systemd}
  if [[ -n "$LAB_MODE" && "$LAB_MODE" != "$mode" ]]; then
    die "lab '$LAB_NAME' in $LAB_DIR runs in $LAB_MODE mode; run '$0 down' first to switch to $mode"
  fi
  [[ -n "$nodes" ]] || nodes=$((LAB_NODES > 0 ? LAB_NODES : 3))
  if ! [[ "$nodes" =~ ^[0-9]+$ ]] || ((nodes < 1 || nodes > MAX_NODES)); then
    die "--nodes must be 1..$MAX_NODES, got '$nodes'"
  fi
  if ((nodes < LAB_NODES)); then
    local extra=()
    for ((i = nodes + 1; i <= LAB_NODES; i++)); do extra+=("node$i"); done
    log "shrinking lab '$LAB_NAME' from $LAB_NODES to $nodes nodes: removing ${extra[*]} and their disks"
    lab::stop_nodes "${extra[@]}"
    lab::unbound_disks "${extra[@]}"
    for node in "${extra[@]}"; do
      lab::remove_node "$node"
      rm -rf "$(lab::node_dir "$node")"
    done
  fi
  mkdir -p "$LAB_DIR/nodes"
  fstype=$(stat -f -c %T "$LAB_DIR/nodes")
  [[ "$fstype" != overlayfs ]] \
    || die "$LAB_DIR/nodes is on $fstype; the nodes' overlay upper dirs need a real filesystem (ext4, xfs, tmpfs): set LAB_DIR elsewhere"
  LAB_MODE=$mode LAB_NODES=$nodes
  lab::save_env
  lab::host_limits
  lab::cg_bases_complete
  lab::write_secrets
  lab::write_hosts
  lab::write_configs
  lab::net_bridge
  for node in $(lab::nodes); do
    if lab::pid1 "$node" >/dev/null; then
      lab::net_node "$node"
      # The node's /etc/hosts is in its overlay's upper dir: compare without entering it.
      cmp -s "$LAB_DIR/hosts" "$(lab::node_dir "$node")/upper/etc/hosts" \
        || lab::node_exec "$node" sh -c 'cat >/etc/hosts' <"$LAB_DIR/hosts"
    else
      lab::kill_leftovers "$node"
      lab::start_node "$node"
      started+=("$node")
    fi
  done
  for node in "${started[@]}"; do
    lab::wait_node "$node" &
    waits+=($!)
  done
  for i in "${!waits[@]}"; do
    wait "${waits[$i]}" || failed+=("${started[$i]}")
  done
  lab::write_known_hosts
  lab::write_nodes_json
  ((${#failed[@]} == 0)) || die "nodes not ready: ${failed[*]}; fix and rerun '$0 up' (it repairs), or '$0 down'"
  waits=()
  for node in $(lab::nodes); do
    ssh -F "$LAB_DIR/ssh_config" -o BatchMode=yes "$node" true </dev/null &
    waits+=($!)
  done
  i=0
  for node in $(lab::nodes); do
    wait "${waits[$i]}" || failed+=("$node")
    i=$((i + 1))
  done
  ((${#failed[@]} == 0)) || die "ssh by key fails for: ${failed[*]}; look at '$0 exec NODE -- systemctl status ssh' and $LAB_DIR/nodes/NODE/init.log; to reboot a node: '$0 fault kill-node NODE' then '$0 up'"
  log "lab '$LAB_NAME' up: $LAB_NODES nodes ($LAB_MODE mode), started now: ${started[*]:-none}; config: $LAB_DIR/upgrade.ini, ssh -F $LAB_DIR/ssh_config node1"
}

cmd::down() {
  local keep=0 node nodes=() bases=() base
  [[ "${1:-}" == --keep-state ]] && keep=1
  [[ -d "$LAB_DIR" ]] || { log "nothing to do: $LAB_DIR does not exist"; return 0; }
  lab::lock
  lab::load_env
  # Every node dir counts, also of nodes beyond LAB_NODES from an interrupted up.
  # ... and every netns of this lab, also one without a node dir.
  while read -r node; do
    [[ -n "$node" ]] && nodes+=("$node")
  done < <({
    [[ -d "$LAB_DIR/nodes" ]] && ls "$LAB_DIR/nodes"
    ip netns list | awk '{ print $1 }' | sed -n "s/^$LAB_NAME-\(node[0-9][0-9]*\)\$/\1/p"
  } | sort -u)
  lab::stop_nodes "${nodes[@]}"
  lab::unbound_disks "${nodes[@]}"
  if [[ -s "$LAB_DIR/cgroups" ]]; then
    while read -r base; do bases+=("$base"); done <"$LAB_DIR/cgroups"
  fi
  for node in "${nodes[@]}"; do
    lab::remove_node "$node"
  done
  # Interfaces or netns of this lab that have no node dir any more (and the WAN's ifb device).
  ip link del "$LAB_NAME-wan" 2>/dev/null || true
  while read -r node; do
    ip link del "$node" 2>/dev/null || true
  done < <(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E "^$LAB_NAME-(n[0-9]+|br)\$" || true)
  while read -r node; do
    ip netns del "$node" 2>/dev/null || true
  done < <(ip netns list | awk '{ print $1 }' | grep -E "^$LAB_NAME-node[0-9]+\$" || true)
  for base in "${bases[@]}"; do
    rmdir "$base" 2>/dev/null || true
    rmdir "$(dirname "$base")" 2>/dev/null || true # lab/, unless another lab uses it
  done
  if ((keep)); then
    log "lab '$LAB_NAME' down; node disks kept in $LAB_DIR/nodes"
    rm -f "$LAB_DIR/nodes.json"
    return 0
  fi
  rm -rf "$LAB_DIR/nodes" "$LAB_DIR/state"
  for base in "${LAB_FILES[@]}"; do rm -f "${LAB_DIR:?}/$base" "${LAB_DIR:?}/$base.tmp"; done
  rmdir "$LAB_DIR" 2>/dev/null || true
  log "lab '$LAB_NAME' down: nodes stopped, netns/links/cgroups/state removed"
}

# Exit status 1 if any node is down or not reachable by ssh.
cmd::status() {
  local json=0 node pid state ssh sep="" bad=0
  [[ "${1:-}" == --json ]] && json=1
  lab::load_env
  ((LAB_NODES > 0)) || { log "no lab '$LAB_NAME' in $LAB_DIR"; return 1; }
  ((json)) && printf '['
  ((json)) || printf '%-8s %-15s %-8s %-12s %s\n' NODE ADDRESS PID1 SYSTEMD SSHD
  for node in $(lab::nodes); do
    state=down ssh=no
    if pid=$(lab::pid1 "$node"); then
      if [[ "$LAB_MODE" == systemd ]]; then
        state=$(lab::node_exec "$node" systemctl is-system-running 2>/dev/null || true)
      else
        state=n/a
      fi
      ssh -F "$LAB_DIR/ssh_config" -o BatchMode=yes -o ConnectTimeout=3 "$node" true </dev/null 2>/dev/null && ssh=yes
    else
      pid=-
    fi
    [[ "$ssh" == yes ]] || bad=1
    if ((json)); then
      printf '%s{"name": "%s", "address": "%s", "pid": "%s", "systemd": "%s", "ssh": %s}' \
        "$sep" "$node" "$(lab::addr "$node")" "$pid" "${state:-unknown}" "$([[ $ssh == yes ]] && echo true || echo false)"
      sep=", "
    else
      printf '%-8s %-15s %-8s %-12s %s\n' "$node" "$(lab::addr "$node")" "$pid" "${state:-unknown}" "$ssh"
    fi
  done
  ((json)) && printf ']\n'
  return "$bad"
}

cmd::exec() {
  local node="${1:-}"
  [[ -n "$node" ]] || die "usage: exec NODE -- CMD..."
  shift
  [[ "${1:-}" == -- ]] && shift
  (($#)) || die "usage: exec NODE -- CMD..."
  lab::load_env
  lab::node_exec "$node" "$@"
}

lab::known_node() {
  if ! [[ "$1" =~ ^node[0-9]+$ ]] || ((${1#node} < 1 || ${1#node} > LAB_NODES)); then
    die "unknown node '$1' (lab '$LAB_NAME' has node1..node$LAB_NODES)"
  fi
}

# iptables in the node's netns (from the host: works while the node's sshd is cut off).
lab::nft() {
  ip netns exec "$(lab::netns "$1")" iptables -w 5 "${@:2}"
}

lab::nft_del_tagged() {
  local node="$1" tag="$2" chain rule
  for chain in INPUT OUTPUT; do
    while rule=$(lab::nft "$node" -S "$chain" | grep -- "--comment \"\\?$tag\"\\?" | head -n 1) && [[ -n "$rule" ]]; do
      # shellcheck disable=SC2086 # the rule spec is iptables -S output, split on purpose
      eval "lab::nft \"\$node\" ${rule/-A/-D}"
    done
  done
}

# The WAN: only traffic between this host (the control node) and the nodes. Host -> site leaves
# through the bridge device itself (tbf on its egress; frames the bridge forwards between nodes
# never pass it); site -> host arrives as the bridge device's ingress, redirected to an ifb
# device ($LAB_NAME-wan) and shaped on its egress. Loss: random DROP in each node's netns of
# packets from/to the bridge address only. (No delay: this kernel has no sch_netem.)
lab::wan() {
  local rate="${1:-}" loss="${2:-}" br ifb node
  [[ "$rate" =~ ^[0-9]+(k|m|g)?(bit|bps)$ ]] || die "usage: fault wan RATE [LOSS] (e.g. 20mbit 0.005)"
  [[ -z "$loss" || "$loss" =~ ^0?\.[0-9]+$ ]] || die "usage: fault wan RATE [LOSS] (LOSS a probability 0..1, e.g. 0.005)"
  lab::wan_clear quiet
  br=$(lab::bridge) ifb="$LAB_NAME-wan"
  tc qdisc replace dev "$br" root tbf rate "$rate" burst 64kbit latency 400ms
  ip link add "$ifb" type ifb
  ip link set "$ifb" up
  tc qdisc replace dev "$ifb" root tbf rate "$rate" burst 64kbit latency 400ms
  tc qdisc add dev "$br" handle ffff: ingress
  tc filter add dev "$br" parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev "$ifb"
  if [[ -n "$loss" ]]; then
    for node in $(lab::nodes); do
      lab::nft "$node" -I INPUT -i eth0 -s "$LAB_SUBNET.1" -m statistic --mode random --probability "$loss" \
        -j DROP -m comment --comment lab-wan
      lab::nft "$node" -I OUTPUT -o eth0 -d "$LAB_SUBNET.1" -m statistic --mode random --probability "$loss" \
        -j DROP -m comment --comment lab-wan
    done
  fi
  log "WAN between the control node and the site: $rate each way${loss:+, loss $loss each way}; node<->node unshaped"
}

lab::wan_clear() {
  local br node
  br=$(lab::bridge)
  tc qdisc del dev "$br" root 2>/dev/null || true
  tc qdisc del dev "$br" ingress 2>/dev/null || true
  ip link del "$LAB_NAME-wan" 2>/dev/null || true
  for node in $(lab::nodes); do
    lab::nft_del_tagged "$node" lab-wan 2>/dev/null || true
  done
  [[ "${1:-}" == quiet ]] || log "WAN cleared"
}

cmd::fault() {
  local action="${1:-}" node="${2:-}" pid veth p
  if [[ "$action" == wan || "$action" == wan-clear ]]; then
    shift
    lab::load_env
    if [[ "$action" == wan ]]; then lab::wan "$@"; else lab::wan_clear; fi
    return 0
  fi
  [[ -n "$action" && -n "$node" ]] || die "usage: fault ACTION NODE [ARGS] (see $0 --help)"
  shift 2
  lab::load_env
  lab::known_node "$node"
  veth=$(lab::veth "$node")
  case "$action" in
    cut)
      lab::nft_del_tagged "$node" lab-cut
      lab::nft "$node" -I INPUT -i eth0 -j DROP -m comment --comment lab-cut
      lab::nft "$node" -I OUTPUT -o eth0 -j DROP -m comment --comment lab-cut
      log "$node: link cut (all packets on eth0 dropped)"
      ;;
    restore)
      lab::nft_del_tagged "$node" lab-cut
      log "$node: link restored"
      ;;
    rate)
      [[ "${1:-}" =~ ^[0-9]+(k|m|g)?(bit|bps)$ ]] || die "usage: fault rate NODE RATE (e.g. 20mbit)"
      tc qdisc replace dev "$veth" root tbf rate "$1" burst 32kbit latency 400ms
      ip netns exec "$(lab::netns "$node")" tc qdisc replace dev eth0 root tbf rate "$1" burst 32kbit latency 400ms
      log "$node: rate limited to $1 each way"
      ;;
    loss)
      p="${1:-}"
      [[ "$p" =~ ^0?\.[0-9]+$|^1(\.0*)?$ ]] || die "usage: fault loss NODE P (probability 0..1, e.g. 0.05)"
      lab::nft_del_tagged "$node" lab-loss
      lab::nft "$node" -I INPUT -i eth0 -m statistic --mode random --probability "$p" -j DROP -m comment --comment lab-loss
      lab::nft "$node" -I OUTPUT -o eth0 -m statistic --mode random --probability "$p" -j DROP -m comment --comment lab-loss
      log "$node: dropping packets with probability $p each way"
      ;;
    clear)
      tc qdisc del dev "$veth" root 2>/dev/null || true
      ip netns exec "$(lab::netns "$node")" tc qdisc del dev eth0 root 2>/dev/null || true
      lab::nft_del_tagged "$node" lab-loss
      log "$node: rate limit and loss cleared"
      ;;
    kill-sshd-sessions)
      pid=$(lab::pid1 "$node") || die "$node is not running"
      local victims=()
      while read -r p; do
        [[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" == "sshd: root@"* ]] && victims+=("$p")
      done < <(lab::pids_in_ns pid "$(stat -L -c %i "/proc/$pid/ns/pid")")
      if ((${#victims[@]})); then kill -s KILL "${victims[@]}" 2>/dev/null || true; fi
      log "$node: killed ${#victims[@]} sshd session process(es) ${victims[*]}"
      ;;
    kill-node)
      pid=$(lab::pid1 "$node") || die "$node is not running"
      kill -s KILL "$pid"
      while [[ -d "/proc/$pid" ]]; do sleep 0.05; done
      log "$node: PID 1 ($pid) killed"
      ;;
    start-node)
      lab::lock
      if lab::pid1 "$node" >/dev/null; then
        log "$node: already running"
        return 0
      fi
      lab::restart_node "$node"
      ;;
    fill-disk)
      local path="${1:-}" size="${2:-}"
      [[ "$path" == /* && "$size" =~ ^[0-9]+[kKmMgG]?$ ]] || die "usage: fault fill-disk NODE /ABS/PATH SIZE (e.g. 20M)"
      # A path bound-disk made a filesystem of its own (lab-bound) is filled with a file; any other
      # gets a full tmpfs mounted over it (lab-fill), which hides what is already there.
      # shellcheck disable=SC2016 # expanded by the node's sh
      lab::node_exec "$node" sh -euc '
        mkdir -p "$1"
        if ! awk -v p="$1" "\$2 == p && (\$1 == \"lab-fill\" || \$1 == \"lab-bound\") { f = 1 } END { exit !f }" /proc/self/mounts; then
          mount -t tmpfs -o "size=$2" lab-fill "$1"
        fi
        dd if=/dev/zero of="$1/.lab-fill" bs=64k 2>/dev/null || true
        sync' lab-fill "$path" "$size"
      log "$node: $path is full"
      ;;
    unfill-disk)
      local path="${1:-}"
      [[ "$path" == /* ]] || die "usage: fault unfill-disk NODE /ABS/PATH"
      # shellcheck disable=SC2016 # expanded by the node's sh
      lab::node_exec "$node" sh -euc '
        while awk -v p="$1" "\$2 == p && \$1 == \"lab-fill\" { f = 1 } END { exit !f }" /proc/self/mounts; do
          umount -l "$1"
        done
        rm -f "$1/.lab-fill"' lab-unfill "$path"
      log "$node: $path unfilled"
      ;;
    bound-disk)
      local size="${1:-}"
      [[ "$size" =~ ^[0-9]+[kKmMgG]?$ ]] || die "usage: fault bound-disk NODE SIZE (e.g. 1G)"
      lab::lock
      lab::bound_disk "$node" "$size"
      ;;
    unbound-disk)
      lab::lock
      lab::unbound_disks "$node"
      lab::restart_node "$node"
      ;;
    *) die "unknown fault '$action' (cut restore rate loss clear kill-sshd-sessions kill-node start-node fill-disk unfill-disk bound-disk unbound-disk wan wan-clear)" ;;
  esac
}

cmd::paths() {
  local f
  for f in upgrade.ini upgrade-key.ini ssh_config known_hosts id_ed25519 password nodes.json; do
    echo "$LAB_DIR/$f"
  done
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  (($#)) && shift
  case "$cmd" in
    -h | --help | help | "") usage; return 0 ;;
  esac
  [[ $EUID == 0 ]] || die "the lab needs root (namespaces, mounts, cgroups); run as root"
  lab::check_params
  case "$cmd" in
    up) cmd::up "$@" ;;
    down) cmd::down "$@" ;;
    status) cmd::status "$@" ;;
    exec) cmd::exec "$@" ;;
    fault) cmd::fault "$@" ;;
    paths) cmd::paths ;;
    *) die "unknown command '$cmd' (up down status exec fault paths; see --help)" ;;
  esac
}

main "$@"
