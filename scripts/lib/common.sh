# shellcheck shell=bash
# Shared bash library for node-side scripts: strict mode, stack traces, logging, messages.
# Sourced, never executed. Functions are named common::*, with short aliases for the hot ones.

set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
# shellcheck source=scripts/lib/owned.sh
source "$(dirname "${BASH_SOURCE[0]}")/owned.sh"

#######################################
# Print the call stack of a failed command to stderr (ERR trap).
# Arguments: exit status of the failed command
#######################################
common::stack() {
  local rc=$1 i
  printf '[%s] [%s] %s (rc=%s): %s\n' "$(date '+%F %T')" "${DR_STEP:-${0##*/}}" \
    "$(common::msg "命令失败" "command failed")" "$rc" "${BASH_COMMAND}" >&2
  for ((i = 1; i < ${#FUNCNAME[@]}; i++)); do
    printf '    at %s (%s:%s)\n' "${FUNCNAME[$i]}" "${BASH_SOURCE[$i]}" "${BASH_LINENO[$((i - 1))]}" >&2
  done
}
trap 'common::stack $?' ERR
set -o errtrace

#######################################
# Choose between a Chinese and an English text by DRUPGRADE_LANG (zh|en), else LANG.
# Arguments: zh text, en text
# Outputs: the chosen text on stdout
#######################################
common::msg() {
  local lang=${DRUPGRADE_LANG:-}
  if [[ -z $lang ]]; then
    case ${LC_ALL:-${LC_MESSAGES:-${LANG:-}}} in zh*) lang=zh ;; *) lang=en ;; esac
  fi
  if [[ $lang == zh ]]; then printf '%s' "$1"; else printf '%s' "$2"; fi
}
msg() { common::msg "$@"; }

#######################################
# Log one line to stderr: [time] [step] message. stdout stays machine-readable.
# Arguments: zh text, en text (or a single text for both)
#######################################
common::log() {
  local text
  if (($# >= 2)); then text=$(common::msg "$1" "$2"); else text=$1; fi
  printf '[%s] [%s] %s\n' "$(date '+%F %T')" "${DR_STEP:-${0##*/}}" "$text" >&2
}
log() { common::log "$@"; }

#######################################
# The one way to give up: log the reason (zh, en) and exit with a status (default 1).
#######################################
common::die() {
  local rc=1
  if [[ ${1:-} =~ ^[0-9]+$ ]]; then rc=$1; shift; fi
  trap - ERR
  common::log "$@"
  exit "$rc"
}
die() { common::die "$@"; }

