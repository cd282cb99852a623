# shellcheck shell=bash
# Component service/monitor (common services: state monitoring): every check of the node's state
# holds; execute fails naming each one that does not.
# Parameters: any number of check_<name>, each "ROLES: KIND ARGS..." where ROLES is a comma list
# of roles the check applies to (any: every node) and KIND one of
#   units_of TARGET PREFIX   every unit TARGET depends on whose name starts with PREFIX is active
#   unit UNIT                the unit is active
#   http URL KEY=VALUE...    the endpoint answers with these JSON fields (base/http)
#   file_is PATH VALUE       the file holds VALUE (one line)
#   equals VALUE COMMAND...  the command prints VALUE
#   at_least VERSION COMMAND... the command prints a version no older than VERSION (sort -V)
#   run COMMAND...           the command succeeds
#   wait SECONDS KIND ARGS... the check KIND ARGS holds within SECONDS
# and the kinds a component that sources this one adds (a function monitor::kind_<KIND> ARGS...).
# shellcheck source=scripts/components/base/http.sh
source "$COMPONENTS_DIR/base/http.sh"
# shellcheck source=scripts/components/base/wait.sh
source "$COMPONENTS_DIR/base/wait.sh"

monitor::applies() {
  local roles=$1 r
  [[ $roles == any ]] && return 0
  for r in ${roles//,/ }; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}

#######################################
# One check. Arguments: KIND ARGS...
#######################################
monitor::check() {
  local kind=$1 u
  shift
  case $kind in
    units_of)
      for u in $(systemctl list-dependencies --plain --no-legend "$1" 2> /dev/null | awk '{print $1}' | grep "^$2"); do
        systemctl is-active --quiet "$u" || { printf '%s ' "$u"; return 1; }
      done
      ;;
    unit) systemctl is-active --quiet "$1" ;;
    http) http::ok "$@" ;;
    file_is) [[ $(cat "$1" 2> /dev/null) == "$2" ]] ;;
    equals) [[ $("${@:2}" 2> /dev/null) == "$1" ]] ;;
    at_least)
      u=$("${@:2}" 2> /dev/null) && [[ -n $u && $(printf '%s\n' "$1" "$u" | sort -V | head -n 1) == "$1" ]]
      ;;
    run) "$@" > /dev/null 2>&1 ;;
    wait) wait::until "$1" "检查 ${*:2}" "the check ${*:2}" monitor::check "${@:2}" ;;
    *)
      if declare -F "monitor::kind_$kind" > /dev/null; then
        "monitor::kind_$kind" "$@"
        return
      fi
      common::die 2 "未知的检查类型: $kind" "unknown kind of check: $kind" ;;
  esac
}

#######################################
# The failing checks, one per line (none: every check holds). MONITOR_PREFIX: the parameters'
# variables that hold them (default DR_P_CHECK_).
#######################################
monitor::failing() {
  local var name value roles words=() prefix=${MONITOR_PREFIX:-DR_P_CHECK_}
  while IFS= read -r var; do
    name=${var#"$prefix"}
    value=${!var}
    roles=${value%%:*}
    monitor::applies "$roles" || continue
    read -ra words <<< "${value#*:}"
    monitor::check "${words[@]}" > /dev/null || printf '%s (%s)\n' "${name,,}" "${words[*]}"
  done < <(compgen -v "$prefix" || true)
}

post_check() { [[ -z $(monitor::failing) ]]; }
execute() {
  local bad
  bad=$(monitor::failing)
  [[ -z $bad ]] || die "以下服务或检查未通过: ${bad//$'\n'/; }" "these services or checks failed: ${bad//$'\n'/; }"
  log "全部服务与检查正常" "every service runs and every check holds"
}
get_progress() { monitor::failing; }
