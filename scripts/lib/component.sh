# shellcheck shell=bash
# The component protocol (design §4.8.2.1). A component is scripts/components/<layer>/<name>.sh
# (layers: base = files, database, system commands, network; service = backup/restore, service
# management, config management, state monitoring; business = business data, permissions,
# plugins, interfaces; adapter = version adaptation). It defines any of
#   pre_check     what must hold before execute (exit 0: it holds)
#   execute       the work; re-runnable (a retry runs it again after rollback)
#   post_check    the state execute produces holds (exit 0: done)
#   rollback      undo what a failed execute left half done, so that execute can run again
#   get_progress  one line saying where the work stands
# and reads its parameters from DR_P_<NAME> (component::param). Components know no product: what
# they act on comes in their parameters.
#
# A step of the engine (scripts/steps/<N-phase>/NN-name.sh) runs the component the hop's strategy
# binds to it: the controller writes the binding into context.env as DR_B_<STEP>_COMPONENT,
# DR_B_<STEP>_P_<NAME>, DR_B_<STEP>_TIMEOUT and DR_B_<STEP>_RETRIES (drupgrade.strategies). The
# step protocol maps onto the component (component::use_binding):
#   step check   -> post_check                  (already done)
#   step run     -> pre_check, execute (RETRIES attempts, rollback between them, each within
#                   TIMEOUT seconds), post_check
#   step verify  -> post_check
#   step cleanup -> rollback
#   step progress-> get_progress
# A step its hop's strategy leaves empty has nothing to do in that hop (check: done; run: says so).
#
# By hand: `drstep NAME run` runs the step's binding from context.env; `drstep component
# LAYER/NAME ACTION [NAME=VALUE...]` runs a component with the parameters given.

COMPONENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../components" && pwd)

# The interface's defaults: nothing to check, nothing to undo, no progress to tell.
pre_check() { :; }
post_check() { return 1; }
rollback() { :; }
get_progress() { :; }
execute() { die "组件 ${DR_COMPONENT:-?} 未实现 execute" "the component ${DR_COMPONENT:-?} has no execute"; }

#######################################
# Source a component by name (layer/name) after the defaults. Exit 2 for an unknown one.
#######################################
component::load() {
  local name=$1
  [[ $name =~ ^(base|service|business|adapter)/[a-z][a-z0-9_]*$ && -f $COMPONENTS_DIR/$name.sh ]] ||
    common::die 2 "未知组件: $name（组件位于 $COMPONENTS_DIR/<层>/<名称>.sh）" \
      "unknown component: $name (components are $COMPONENTS_DIR/<layer>/<name>.sh)"
  DR_COMPONENT=$name
  # shellcheck source=/dev/null
  source "$COMPONENTS_DIR/$name.sh"
}

#######################################
# A parameter's value (DR_P_<NAME>); the default when it is unset or empty, else exit 2 naming it.
# Arguments: name, [default]
#######################################
component::param() {
  local var=DR_P_${1^^}
  if [[ -n ${!var:-} ]]; then
    printf '%s' "${!var}"
  elif (($# > 1)); then
    printf '%s' "$2"
  else
    common::die 2 "组件 $DR_COMPONENT 缺少参数 $1（$var）" "the component $DR_COMPONENT needs the parameter $1 ($var)"
  fi
}

# A list parameter (words separated by spaces) into the array named by $2. Arguments: name, array, [default]
component::words() {
  local value
  if (($# > 2)); then value=$(component::param "$1" "$3"); else value=$(component::param "$1"); fi
  # shellcheck disable=SC2034  # the caller's array
  read -ra "$2" <<< "$value"
}

# true|false parameter: exit 0 when true. Arguments: name, [default]
component::flag() { [[ $(component::param "$1" "${2:-false}") == true ]]; }

#######################################
# Run a command given as a parameter (words, no shell: no expansion, no globbing).
# Arguments: parameter name
#######################################
component::command() {
  local words=()
  component::words "$1" words
  "${words[@]}"
}

#######################################
# PID and every process below it (what an attempt started: the command it waits for too, which a
# TERM to the attempt's shell alone would leave running). Outputs: one PID per line
#######################################
component::tree() {
  local child
  printf '%s\n' "$1"
  for child in $(ps -o pid= --ppid "$1" 2> /dev/null); do
    component::tree "$child"
  done
}

#######################################
# One attempt of execute, within SECONDS (empty: no limit): its exit status in ATTEMPT_RC (124:
# the time ran out). execute runs as a job of its own started outside any condition, so that
# `set -e` holds in it (bash ignores it in whatever runs inside an if, until, || or &&).
#######################################
component::attempt() {
  local seconds=$1 pid watch=''
  execute &
  pid=$!
  if [[ -n $seconds ]]; then
    (
      sleep "$seconds"
      log "组件 $DR_COMPONENT 超过 ${seconds} 秒，已终止" "the component $DR_COMPONENT ran over ${seconds}s: stopped"
      # shellcheck disable=SC2046 # one PID per word
      kill -TERM $(component::tree "$pid") 2> /dev/null
    ) &
    watch=$!
  fi
  ATTEMPT_RC=0
  wait "$pid" || ATTEMPT_RC=$?
  if [[ -n $watch ]]; then
    kill "$watch" 2> /dev/null || true
    wait "$watch" 2> /dev/null || true
  fi
}

#######################################
# The whole interface in the order of a step run: pre_check, execute (attempts, rollback between
# them), post_check. Arguments: attempts, seconds per attempt (empty: no limit)
#######################################
component::run() {
  local attempts=${1:-1} seconds=${2:-} n=1
  pre_check || die "组件 $DR_COMPONENT 的前置检查未通过" "the pre-check of the component $DR_COMPONENT failed"
  while :; do
    component::attempt "$seconds"
    if ((ATTEMPT_RC == 0)); then
      DR_EXECUTED=1
      break
    fi
    ((n < attempts)) || die "组件 $DR_COMPONENT 执行失败（$n 次）" "the component $DR_COMPONENT failed ($n attempts)"
    log "组件 $DR_COMPONENT 第 $n 次执行失败，撤销后重试" "the component $DR_COMPONENT failed (attempt $n): undoing, then again"
    rollback
    n=$((n + 1))
    sleep 2
  done
  post_check || die "组件 $DR_COMPONENT 执行后检查未通过" "the post-check of the component $DR_COMPONENT failed"
}

# True right after execute succeeded in this process: what post_check says for work it has no
# other way to check.
component::executed() { [[ ${DR_EXECUTED:-} == 1 ]]; }

#######################################
# The binding of step STEP from the context (DR_B_<STEP>_*): DR_P_* exported, the component
# loaded. Returns 1 when the hop's strategy binds nothing to the step.
#######################################
component::bind() {
  local pre=DR_B_${1^^}_ var comp
  comp=${pre}COMPONENT
  [[ -n ${!comp:-} ]] || return 1
  while IFS= read -r var; do
    export "DR_P_${var#"${pre}P_"}=${!var}"
  done < <(compgen -v "${pre}P_" || true)
  component::load "${!comp}"
}

#######################################
# Make the step file that calls this the step of its binding (see the mapping above); the step
# file then calls step::main "$@".
#######################################
# shellcheck disable=SC2317  # the step:: functions defined here are called by step::main
component::use_binding() {
  local step=${DR_STEP:-$(basename "${BASH_SOURCE[1]}" .sh | sed 's/^[0-9]*-//')} t r
  t=DR_B_${step^^}_TIMEOUT
  r=DR_B_${step^^}_RETRIES
  DR_BOUND_TIMEOUT=${!t:-}
  DR_BOUND_RETRIES=${!r:-1}
  if component::bind "$step"; then
    step::check() { post_check; }
    step::verify() { post_check; }
    step::cleanup() { rollback; }
    step::progress() { get_progress; }
    step::run() { component::run "$DR_BOUND_RETRIES" "$DR_BOUND_TIMEOUT"; }
  else
    step::check() { :; }
    step::verify() { :; }
    step::run() {
      log "本跳的升级策略（${DR_STRATEGY:-?}）未给此工步指定组件：无需执行" \
        "the hop's strategy (${DR_STRATEGY:-?}) fills this step with no component: nothing to do"
    }
  fi
}
