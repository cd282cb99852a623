# shellcheck shell=bash
# The step protocol: a step file declares itself in its header and defines step::run (and
# optionally step::check, step::cleanup, step::verify, step::progress, step::diag), then calls
# step::main "$@". A step that runs the component its hop's strategy binds to it calls
# component::use_binding first (scripts/lib/component.sh).
#
# Where: steps/<N-phase>/NN-name.sh. The directories N-phase are the phases of the upgrade run in
# run order (`ls steps/`), each declared by its file PHASE ("# Key: value" lines: Label, Label-zh,
# Scope: run = once per run before the first hop, hop = once per hop of the upgrade path);
# steps/rollback/ holds the steps of rollback_tool. A step's phase is its directory; NN orders it.
#
# Header keys (one per line, "# Key: value"):
#   Summary, Summary-zh   what the step does (en, zh)
#   Runs                  node (default) | controller: a header-only declaration of the
#                         controller's own step (its work is in the controller; drstep refuses it)
#   Timeout               seconds
#   Retry                 the retry policy id (conf/retry_policy.json)
#   Done                  what "already done" means (step::check answers it)
#   Cleanup               what step::cleanup removes before a retry
#   Roles                 roles the step runs on (any = every node)
#   Fanout                parallel (default) | serial (one node at a time) | primary-first
#   Barrier               cluster (default: starts when the previous step ended on every node) |
#                         node (needs only this node's earlier steps: runs in the same
#                         `drstep chain` as the previous step, without a round trip)
#   Kind                  what a timeout means here: db | file | service | network | plugin
#   Lock                  none: a read-only check (drstep NAME run holds no node lock for it)
#   Subject               what the Kind is about (a port, a path, a plugin name)
#   Rolling               in a rolled hop (one hop per wave of nodes: docs/upgrade.md, Rolling
#                         upgrades): wave (default: on the wave's nodes) | first (once, on every
#                         node, in the first wave: before any node moves) | last (once, on every
#                         node, in the last wave: after every node moved)
#   Estimate              seconds one wave of nodes usually takes: the plan's estimate until this
#                         controller has timed the step (docs/upgrade.md, Estimates); rollback/:
#                         required on the numbered steps (the estimate before a rollback has been timed)
# rollback/ only, for rollback_tool's numbered steps (design §4.4.2.2; not on its pre-step check):
#   Rollback-step         its number: 1, 2, … in file order (the command rollback_tool stepN)
#   Label, Label-zh       its short name in the progress display and the help (en, zh)
#   Parallel-group        steps of one group run at the same time in one-click mode
#
# Fault injection for tests (only when DR_FAULT_INJECTION=on): a file
# $DR_FAULT_DIR/<step> (default /var/lib/drupgrade/faults/<step>) holding
# "fail | hang | crash | wait | forge [TIMES]" fires TIMES runs of the step (default once), then is
# consumed: fail exits 1 before the work, hang sleeps past any timeout, crash kills the step at its
# first step::point (halfway through its work), wait holds the step before its work until the
# file <step>.release appears there (then removes it), forge prints lines that look like the
# controller's markers (no nonce, another nonce, malformed) and then does the work.
#
# Exit status: 0 ok / already done, 1 failed, 2 usage.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

#######################################
# Print the value of a header key of a step file.
# Arguments: file, key
#######################################
step::header() {
  local file=$1 key=$2 line
  # bash alone (no sed): a chain reads the headers of every step it runs, on every node
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == "# $key:"* ]] || continue
    line=${line#"# $key:"}
    printf '%s\n' "${line#"${line%%[! ]*}"}"
    return 0
  done < "$file"
}

#######################################
# The phase of a step file: its directory's name without the order (5-backup: backup).
# Arguments: file
#######################################
step::phase() {
  local dir=${1%/*}
  dir=${dir##*/}
  printf '%s\n' "${dir#[0-9]*-}"
}

#######################################
# The step directories under a steps dir, in run order: the phases N-name by N, then rollback.
# Arguments: steps dir
#######################################
step::dirs() {
  local d n
  local -a by=()  # indexed by N: bash lists an indexed array in the order of its indexes
  for d in "$1"/[0-9]*-*/; do
    d=${d%/}
    d=${d##*/}
    n=${d%%-*}
    [[ $n =~ ^[0-9]+$ ]] && by[10#$n]+="$d"$'\n'
  done
  printf '%s' "${by[@]}"
  [[ ! -d $1/rollback ]] || echo rollback
}

step::help() {
  local file=$1 key value
  printf '%s — %s\n' "$(basename "$file" .sh | sed 's/^[0-9]*-//')" \
    "$(common::msg "$(step::header "$file" Summary-zh)" "$(step::header "$file" Summary)")"
  printf '  %-8s %s\n' "Phase:" "$(step::phase "$file")"
  for key in Timeout Retry Done Cleanup Roles Fanout Barrier Kind Runs Rolling Rollback-step Estimate Parallel-group; do
    value=$(step::header "$file" "$key")
    [[ -n $value || " Runs Rolling Rollback-step Estimate Parallel-group " != *" $key "* ]] || continue
    printf '  %-8s %s\n' "$key:" "$value"
  done
  if [[ $(step::header "$file" Runs) == controller ]]; then
    printf '  %s\n' "$(common::msg "由控制器执行（bin/upgrade.sh），节点上无可执行内容" \
      "runs on the controller (bin/upgrade.sh): there is nothing to run on a node")"
  else
    printf '  %s\n' "$(common::msg "用法" "usage"): drstep NAME check|run|cleanup|verify|progress|diag|--help"
  fi
}

# Defaults for the optional parts of the protocol.
step::check() { return 1; }
step::cleanup() { :; }
step::verify() { step::check; }
step::progress() { :; }
step::diag() {
  echo "== ps"; ps -eo pid,ppid,etimes,pcpu,rss,args --sort=-pcpu 2>/dev/null | head -n 25 || true
  echo "== df"; df -hP 2>/dev/null || true
  echo "== free"; free -m 2>/dev/null || true
}

#######################################
# The fault armed for this step, one firing consumed on read (empty when none or injection is off).
#######################################
step::take_fault() {
  local file=${DR_FAULT_DIR:-/var/lib/drupgrade/faults}/$DR_STEP fault times
  [[ ${DR_FAULT_INJECTION:-off} == on && -f $file ]] || return 0
  read -r fault times < "$file" || true
  if [[ ${times:-1} =~ ^[0-9]+$ ]] && ((${times:-1} > 1)); then
    printf '%s %s\n' "$fault" "$((times - 1))" > "$file"
  else
    rm -f "$file"
  fi
  printf '%s' "$fault"
}

#######################################
# A point halfway through a step's work, where an armed "crash" fault kills the step.
#######################################
step::point() {
  if [[ ${DR_ARMED_FAULT:-} == crash ]]; then
    common::log "故障注入: 在 $1 处崩溃" "fault injection: crash at $1"
    # The step's process, then this one when the point is in a subshell (a component's execute).
    kill -9 "$$" "$BASHPID"
  fi
}

step::fire_fault() {
  local release=${DR_FAULT_DIR:-/var/lib/drupgrade/faults}/$DR_STEP.release
  DR_ARMED_FAULT=$(step::take_fault)
  case $DR_ARMED_FAULT in
    fail) common::die 1 "故障注入: 工步失败" "fault injection: step fails" ;;
    hang)
      common::log "故障注入: 工步挂起" "fault injection: step hangs"
      exec sleep 100000
      ;;
    wait)
      common::log "故障注入: 工步等待放行（$release）" "fault injection: the step waits for $release"
      until [[ -e $release ]]; do sleep 0.2; done
      rm -f "$release"
      ;;
    forge)
      printf '@@DRUPGRADE@@ end %s 7 1.0\n' "$DR_STEP"
      printf '@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end %s 7 1.0\n' "$DR_STEP"
      printf '@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end %s x y\n' "$DR_STEP"
      printf 'fault injection: forged markers @@DRUPGRADE@@ end %s 7 1.0\n' "$DR_STEP"
      ;;
  esac
}

#######################################
# Dispatch an action of the step file that sourced this library.
# Arguments: check|run|cleanup|verify|diag|--help
#######################################
step::main() {
  local file=${BASH_SOURCE[1]} action=${1:-}
  DR_STEP=${DR_STEP:-$(basename "$file" .sh | sed 's/^[0-9]*-//')}
  export DR_STEP
  case $action in
    check | cleanup | verify | progress | diag) "step::$action" ;;
    run)
      common::log "开始" "start"
      step::fire_fault
      step::run
      common::log "完成" "done"
      ;;
    --help | -h | help) step::help "$file" ;;
    *)
      step::help "$file" >&2
      return 2
      ;;
  esac
}
