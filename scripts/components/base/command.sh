# shellcheck shell=bash
# Component base/command (base layer: system commands): run a command of the product, with the
# commands that tell whether it is needed and whether it worked.
# Parameters (commands are words: no shell, no expansion):
#   run     the command that does the work
#   check   a command that succeeds once the work is done (post_check; none: done only right
#           after the command succeeded, so a retry runs it again: it must be re-runnable)
#   needs   a command that must succeed before (pre_check; optional)
#   undo    a command that undoes a failed run before a retry (rollback; optional)
#   point   a name for the fault-injection crash point before the command (optional)
#   point_after  a name for the crash point right after the command (optional)
#   prepare a command the nodes with one of prepare_roles (words) run first, every time (optional)
#   skip_when_done  true: execute does nothing when check already succeeds after prepare

pre_check() { [[ -z $(component::param needs "") ]] || component::command needs; }
command::prepare_here() {
  local roles=() r
  [[ -n $(component::param prepare "") ]] || return 1
  component::words prepare_roles roles ""
  ((${#roles[@]})) || return 0
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}
execute() {
  if command::prepare_here; then component::command prepare; fi
  if component::flag skip_when_done && [[ -n $(component::param check "") ]] && component::command check > /dev/null 2>&1; then
    log "已完成，跳过" "already done: skipping"
    return 0
  fi
  [[ -z $(component::param point "") ]] || step::point "$(component::param point)"
  component::command run
  [[ -z $(component::param point_after "") ]] || step::point "$(component::param point_after)"
}
post_check() {
  if [[ -n $(component::param check "") ]]; then component::command check; else component::executed; fi
}
rollback() { [[ -z $(component::param undo "") ]] || component::command undo; }
