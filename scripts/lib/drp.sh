# shellcheck shell=bash
# What the steps not on the framework yet (backup_local, the rollback steps) know about the product
# drp: its paths, units, tools and the backup layout (docs/framework.md).
# Sourced by step files after step.sh. Context (from the controller's context.env):
#   DR_NODE DR_ROLES DR_FROM DR_TO DR_PACKAGE DR_BACKUP_ID DR_BACKUP_ROOT DR_WORK_DIR DR_STATE_DIR

# shellcheck disable=SC2034  # constants for the step files that source this library
DRP_LINK=/opt/drp
DRP_RELEASES=/opt/drp-releases
DRP_ETC=/etc/drp
DRP_DATA=/var/lib/drp/data
DRP_DATADIR=/var/lib/drp/mysql
DRP_UNIT_DIR=/etc/systemd/system

# shellcheck source=scripts/components/base/files.sh
source "$(dirname "${BASH_SOURCE[0]}")/../components/base/files.sh"
# shellcheck source=scripts/components/base/wait.sh
source "$(dirname "${BASH_SOURCE[0]}")/../components/base/wait.sh"

drp::state_file() { printf '%s/backup_state.json' "${DR_STATE_DIR:-/var/lib/drupgrade/node-state}"; }

#######################################
# True if this node has the role (DR_ROLES is a comma list).
#######################################
drp::has_role() { [[ ",${DR_ROLES:-}," == *",$1,"* ]]; }
drp::is_db() { drp::has_role db_primary || drp::has_role db_replica; }

drp::active_version() { cat "$DRP_LINK/VERSION" 2>/dev/null || echo none; }

drp::unit_active() { systemctl is-active --quiet "$1"; }
drp::health() { curl -fsS --max-time 5 http://127.0.0.1:8080/health; }
drp::health_ok() {
  local h
  h=$(drp::health) || return 1
  [[ $h == *'"status": "ok"'* && $h == *"\"version\": \"${1:-$DR_TO}\""* ]]
}
drp::etcd_healthy() { ETCDCTL_API=3 etcdctl --command-timeout=3s endpoint health; }

#######################################
# The node-local JSON that marks finished local backups (design §4.2.3.4). Mark a backup only once
# its files are durable (files::sync_fs of its directory): the mark itself is fsynced, then renamed.
#######################################
drp::backup_marked() {
  local f
  f=$(drp::state_file)
  [[ -f $f ]] && grep -qF "\"${DR_BACKUP_ID}\": \"备份软件完成\"" "$f"
}
drp::mark_backup() {
  local f ids
  f=$(drp::state_file)
  mkdir -p "$(dirname "$f")"
  ids=$(grep -o '"backup_[0-9_]*": "备份软件完成"' "$f" 2>/dev/null | grep -vF "\"$DR_BACKUP_ID\"" || true)
  {
    printf '{\n'
    if [[ -n $ids ]]; then printf '  %s,\n' "${ids//$'\n'/$',\n  '}"; fi
    printf '  "%s": "备份软件完成"\n}\n' "$DR_BACKUP_ID"
  } > "$f.tmp"
  files::fsync "$f.tmp"
  mv "$f.tmp" "$f"
  files::fsync "$(dirname "$f")"
}
