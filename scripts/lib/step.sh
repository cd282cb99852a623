# shellcheck shell=bash
# The step protocol: a step file declares itself in its header and defines step::run (and
# optionally step::check, step::cleanup, step::verify, step::diag), then calls step::main "$@".
#
# Header keys (one per line, "# Key: value"):
#   Summary, Summary-zh   what the step does (en, zh)
#   Phase                 init|distribute_tool|precheck|distribute_package|backup|upgrade|postcheck
#   Timeout               seconds
#   Retry                 the retry policy id (conf/retry_policy.json)
#   Done                  what "already done" means (step::check answers it)
#   Cleanup               what step::cleanup removes before a retry
#   Roles                 roles the step runs on (any = every node)
#
# Exit status: 0 ok / already done, 1 failed, 2 usage.

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

#######################################
# Print the value of a header key of a step file.
# Arguments: file, key
#######################################
step::header() {
  local file=$1 key=$2
  sed -n "s/^# ${key}: *//p" "$file" | head -n 1
}

step::help() {
  local file=$1 key
  printf '%s — %s\n' "$(basename "$file" .sh | sed 's/^[0-9]*-//')" \
    "$(common::msg "$(step::header "$file" Summary-zh)" "$(step::header "$file" Summary)")"
  for key in Phase Timeout Retry Done Cleanup Roles; do
    printf '  %-8s %s\n' "$key:" "$(step::header "$file" "$key")"
  done
  printf '  %s\n' "$(common::msg "用法" "usage"): drstep NAME check|run|cleanup|verify|diag|--help"
}

# Defaults for the optional parts of the protocol.
step::check() { return 1; }
step::cleanup() { :; }
step::verify() { step::check; }
step::diag() {
  echo "== ps"; ps -eo pid,ppid,etimes,pcpu,rss,args --sort=-pcpu 2>/dev/null | head -n 25 || true
  echo "== df"; df -hP 2>/dev/null || true
  echo "== free"; free -m 2>/dev/null || true
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
    check | cleanup | verify | diag) "step::$action" ;;
    run)
      common::log "开始" "start"
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
