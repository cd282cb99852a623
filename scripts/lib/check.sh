# shellcheck shell=bash
# The check protocol (precheck phase, design §4.2.4): a check file declares itself in its
# header, defines check::run, and ends with `check::main "$@"`. It only reads: a check never
# changes the node.
#
# Header keys ("# Key: value"):
#   Summary, Summary-zh   what the check verifies (en, zh)
#   Roles                 roles it concerns (any = every node)
#   Timeout               seconds (default 60)
#
# check::run reports with check::result (one or more), check::item (detail lines: the
# offending records) and check::fact. On stdout, one record per line, fields separated by tabs
# (tabs and newlines inside a field become spaces):
#   @@R <check> <pass|warn|fail|ask> <zh> <en> <remediation zh> <remediation en>
#   @@I <check> <text>
#   @@F <key> <value>
# `drcheck` runs every check of the node and adds what the controller needs; run one check by
# hand with `drcheck show NAME` (readable) or `drcheck run NAME` (records).

# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

check::_field() {
  local v=${1//$'\t'/ }
  printf '%s' "${v//$'\n'/ }"
}

#######################################
# Report the outcome of this check.
# Arguments: severity (pass|warn|fail|ask), zh text, en text, [remediation zh, remediation en]
#######################################
check::result() {
  local sev=$1
  case $sev in pass | warn | fail | ask) ;; *) die 2 "未知的检查结果 $sev" "unknown severity $sev" ;; esac
  printf '@@R\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DR_CHECK" "$sev" "$(check::_field "$2")" "$(check::_field "$3")" \
    "$(check::_field "${4:-}")" "$(check::_field "${5:-}")"
}

#######################################
# One detail line of this check's result (a record, a package, a unit).
#######################################
check::item() { printf '@@I\t%s\t%s\n' "$DR_CHECK" "$(check::_field "$1")"; }

#######################################
# A fact the controller uses across nodes (product version, clock).
#######################################
check::fact() { printf '@@F\t%s\t%s\n' "$1" "$(check::_field "$2")"; }

#######################################
# True if this node has the role (DR_ROLES is a comma list).
#######################################
check::has_role() { [[ ",${DR_ROLES:-}," == *",$1,"* ]]; }

#######################################
# Free bytes on the filesystem holding PATH (its nearest existing parent).
#######################################
check::free_bytes() {
  local p=$1
  while [[ ! -e $p ]]; do p=$(dirname "$p"); done
  df -PB1 "$p" | awk 'NR == 2 {print $4}'
}

check::mb() { echo $(($1 / 1048576)); }

#######################################
# Dispatch: run (records) is the only action; --help prints the header.
#######################################
check::main() {
  local file=${BASH_SOURCE[1]} action=${1:-run}
  DR_CHECK=${DR_CHECK:-$(basename "$file" .sh | sed 's/^[0-9]*-//')}
  export DR_CHECK
  case $action in
    run) check::run ;;
    --help | -h | help)
      printf '%s — %s\n' "$DR_CHECK" "$(msg "$(sed -n 's/^# Summary-zh: *//p' "$file")" \
        "$(sed -n 's/^# Summary: *//p' "$file")")"
      ;;
    *) die 2 "用法: $file run|--help" "usage: $file run|--help" ;;
  esac
}
