# shellcheck shell=bash
# Component base/http (base layer: network): an HTTP endpoint answers, with the fields expected.
# Also the library of HTTP checks of the other components (http::answer, http::ok, http::wait).
# Parameters:
#   url       e.g. http://127.0.0.1:8080/health
#   expect    JSON fields the answer must hold, words KEY=VALUE (e.g. status=ok version=2.2.0)
#   seconds   how long execute waits for it (default 60)

# The body of URL (fails when it does not answer 2xx within 5 s).
http::answer() { curl -fsS --max-time 5 "$1"; }

#######################################
# URL answers and holds every "KEY": "VALUE" field given. Arguments: url, KEY=VALUE...
#######################################
http::ok() {
  local url=$1 body kv
  shift
  body=$(http::answer "$url") || return 1
  for kv in "$@"; do
    [[ $body =~ \"${kv%%=*}\"[[:space:]]*:[[:space:]]*\"${kv#*=}\" ]] || return 1
  done
}

#######################################
# Wait up to SECONDS for http::ok; on timeout, log the last answer. Arguments: seconds, url, KEY=VALUE...
#######################################
http::wait() {
  local seconds=$1 deadline
  shift
  deadline=$((SECONDS + seconds))
  until http::ok "$@"; do
    if ((SECONDS >= deadline)); then
      log "等待 $1 超时（${seconds}秒），最后应答: $(http::answer "$1" 2>&1 | head -c 300)" \
        "timed out after ${seconds}s waiting for $1; its last answer: $(http::answer "$1" 2>&1 | head -c 300)"
      return 1
    fi
    sleep 0.1
  done
}

http::expect() { component::words expect "$1" ""; }
post_check() {
  local fields=()
  http::expect fields
  http::ok "$(component::param url)" "${fields[@]}"
}
execute() {
  local fields=()
  http::expect fields
  http::wait "$(component::param seconds 60)" "$(component::param url)" "${fields[@]}"
}
get_progress() { printf '%s: %s\n' "$(component::param url)" "$(http::answer "$(component::param url)" 2>&1 | head -c 200)"; }
