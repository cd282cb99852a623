#!/usr/bin/env bash
# Summary: database replication is healthy on the replica (IO and SQL threads running, lag)
# Summary-zh: 数据库主从复制正常（从库 IO/SQL 线程运行，延迟）
# Roles: db_replica
# Timeout: 60
# Lag over DR_REPL_LAG_WARN seconds (default 300) is a warning.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../../../lib/check.sh"  # products/<name>/checks/ in the node tool

check::run() {
  local out io sql lag err
  if ! out=$(mariadb --connect-timeout=10 -e 'SHOW SLAVE STATUS\G' 2>&1); then
    check::result fail "无法连接从库数据库：$(printf '%s' "$out" | tail -n 1)" \
      "cannot connect to the replica's database: $(printf '%s' "$out" | tail -n 1)" \
      "请启动从库数据库（systemctl start drp-db）并确认复制恢复" \
      "start the replica's database (systemctl start drp-db) and make sure replication resumes"
    return 0
  fi
  field() { printf '%s\n' "$out" | sed -n "s/^ *$1: *//p" | head -n 1; }
  io=$(field Slave_IO_Running)
  sql=$(field Slave_SQL_Running)
  lag=$(field Seconds_Behind_Master)
  err="$(field Last_IO_Error) $(field Last_SQL_Error)"
  check::item "Slave_IO_Running: ${io:-none}, Slave_SQL_Running: ${sql:-none}, Seconds_Behind_Master: ${lag:-none}"
  if [[ -z $io ]]; then
    check::result fail "从库未配置复制（SHOW SLAVE STATUS 为空）" "replication is not configured on the replica (SHOW SLAVE STATUS is empty)" \
      "请重新配置从库复制（drp-dbtool）后重试" "set up replication on the replica again (drp-dbtool), then retry"
  elif [[ $io != Yes || $sql != Yes ]]; then
    check::result fail "数据库复制未运行：IO 线程 $io，SQL 线程 $sql ${err// /}" \
      "database replication is not running: IO thread $io, SQL thread $sql ${err}" \
      "请排除错误后在从库执行 mariadb -e 'START SLAVE'，确认两个线程均为 Yes" \
      "fix the error, then run mariadb -e 'START SLAVE' on the replica until both threads say Yes"
  elif [[ $lag =~ ^[0-9]+$ ]] && ((lag > ${DR_REPL_LAG_WARN:-300})); then
    check::result warn "从库复制延迟 ${lag} 秒" "the replica lags ${lag} s behind" \
      "请等待从库追上主库后再升级" "wait until the replica has caught up before the upgrade"
  else
    check::result pass "复制正常（延迟 ${lag:-0} 秒）" "replication is healthy (lag ${lag:-0} s)"
  fi
}
check::main "$@"
