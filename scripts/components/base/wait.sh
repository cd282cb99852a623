# shellcheck shell=bash
# Library of the base layer: wait until a command succeeds (no component interface of its own).

#######################################
# Wait until a command succeeds (tried every 0.1 s: a step waits no longer than it must), up to
# SECONDS. Arguments: seconds, what (zh), what (en), command...
#######################################
wait::until() {
  local seconds=$1 zh=$2 en=$3 deadline
  shift 3
  deadline=$((SECONDS + seconds))
  until "$@" > /dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "等待${zh}超时（${seconds}秒）" "timed out after ${seconds}s waiting for ${en}"
      return 1
    fi
    sleep 0.1
  done
}
