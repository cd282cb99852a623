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

pre_check() { [[ -z $(component::param needs "") ]] || component::command needs; }
execute() {
  [[ -z $(component::param point "") ]] || step::point "$(component::param point)"
  component::command run
  [[ -z $(component::param point_after "") ]] || step::point "$(component::param point_after)"
}
post_check() {
  if [[ -n $(component::param check "") ]]; then component::command check; else component::executed; fi
}
rollback() { [[ -z $(component::param undo "") ]] || component::command undo; }
