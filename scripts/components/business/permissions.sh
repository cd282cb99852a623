# shellcheck shell=bash
# Component business/permissions (business logic: permission management): the administrative
# account the new version needs exists and logs in, made once and never made twice. The account
# lives in the product's data, so the database backup and its restore take it back: there is
# nothing of its own to undo.
# Parameters (commands are words: no shell, no expansion):
#   prepare        what the nodes with one of prepare_roles run first, every time (the accounts
#                  the product's own tools need before the check can log in; re-runnable; optional)
#   prepare_roles  the roles of those nodes (words; empty: every node)
#   check          succeeds once the account logs in with its rights
#   create         creates the account and grants its rights (run only when check fails)
#   point          a name for the fault-injection crash point before create (optional)

permissions::prepare_here() {
  local roles=() r
  [[ -n $(component::param prepare "") ]] || return 1
  component::words prepare_roles roles ""
  ((${#roles[@]})) || return 0
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}
execute() {
  if permissions::prepare_here; then component::command prepare; fi
  if component::command check > /dev/null 2>&1; then
    log "账号已存在且可登录，跳过创建" "the account exists and logs in: not creating it again"
    return 0
  fi
  [[ -z $(component::param point "") ]] || step::point "$(component::param point)"
  component::command create
}
post_check() { component::command check; }
get_progress() {
  if component::command check > /dev/null 2>&1; then printf 'account ok\n'; else printf 'account missing\n'; fi
}
