#!/usr/bin/env bats
# The backup and rollback components know no product: a made-up product "xyz" (its tree under
# ROOT, bound as a strategy binds drp) is backed up by service/backup, then "upgraded" (a new
# release, a changed config, a new unit that runs, data changed), and rolled back by the rollback
# steps bound to service/systemd (stop with match), service/restore program and config: everything
# is the backup's again, the new unit is stopped and gone, units that are not the product's stay.
# systemctl is a fake that keeps each unit's state in a file (the real one: tests/integration).

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  T=$BATS_TEST_TMPDIR
  ROOT=$T/root
  U=$ROOT/etc/systemd/system
  mkdir -p "$ROOT/opt/xyz-releases/1.0.0/bin" "$ROOT/etc/xyz" "$U/xyz.target.wants" "$ROOT/var/lib/xyz/data" "$T/bin"
  echo 1.0.0 > "$ROOT/opt/xyz-releases/1.0.0/VERSION"
  echo 'echo a' > "$ROOT/opt/xyz-releases/1.0.0/bin/xyz-a"
  ln -s xyz-releases/1.0.0 "$ROOT/opt/xyz"
  echo 'key=1' > "$ROOT/etc/xyz/xyz.conf"
  echo '[Unit]' > "$U/xyz-a.service"
  echo '[Unit]' > "$U/xyz.target"
  echo '[Unit]' > "$U/other.service"
  ln -s ../xyz-a.service "$U/xyz.target.wants/xyz-a.service"
  echo data > "$ROOT/var/lib/xyz/data/blob"
  export DRUPGRADE_LANG=en DR_NODE=node1 DR_ROLES=app DR_FROM=1.0.0 DR_TO=2.0.0
  export DR_BACKUP_ROOT=$T/backup DR_BACKUP_ID=backup_20260101_000000 DR_STATE_DIR=$T/node-state
  export RB_STAGE_ROOT=$T/run FAKE_SYSTEMD=$T/systemd PATH=$T/bin:$PATH
  mkdir -p "$FAKE_SYSTEMD/state"
  cat > "$T/bin/systemctl" <<'SH'
#!/usr/bin/env bash
S=$FAKE_SYSTEMD
echo "$*" >> "$S/log"
case $1 in
  show) cat "$S/state/${*: -1}" 2> /dev/null || echo inactive ;;
  is-active) [[ $2 == --quiet ]] && shift; [[ $(cat "$S/state/$2" 2> /dev/null) == active ]]; exit ;;
  stop) shift; for u; do echo inactive > "$S/state/$u"; done ;;
  start) shift; [[ $1 == --no-block ]] && shift; for u; do echo active > "$S/state/$u"; done ;;
  list-units)
    while [[ $1 != -- ]]; do shift; done
    shift
    for f in "$S/state"/*; do
      for g; do [[ ${f##*/} == $g ]] && printf '\xe2\x97\x8f %s not-found %s running -\n' "${f##*/}" "$(cat "$f")"; done
    done
    ;;
esac
exit 0
SH
  chmod +x "$T/bin/systemctl"
  export DR_B_BACKUP_LOCAL_COMPONENT=service/backup DR_B_BACKUP_LOCAL_P_LINK=$ROOT/opt/xyz
  export DR_B_BACKUP_LOCAL_P_CONFIG_DIR=$ROOT/etc/xyz DR_B_BACKUP_LOCAL_P_UNIT_DIR=$U
  export DR_B_BACKUP_LOCAL_P_UNIT_MATCH="xyz-*.service xyz.target" DR_B_BACKUP_LOCAL_P_DATA_DIR=$ROOT/var/lib/xyz/data
  export DR_B_ROLLBACK_STOP_COMPONENT=service/systemd DR_B_ROLLBACK_STOP_P_ACTION=stop
  export DR_B_ROLLBACK_STOP_P_UNITS=xyz-a.service DR_B_ROLLBACK_STOP_P_MATCH="xyz-*.service xyz.target"
  export DR_B_ROLLBACK_STOP_P_UNIT_DIR=$U
  export DR_B_ROLLBACK_PROGRAM_COMPONENT=service/restore DR_B_ROLLBACK_PROGRAM_P_ACTION=program
  export DR_B_ROLLBACK_PROGRAM_P_LINK=$ROOT/opt/xyz DR_B_ROLLBACK_PROGRAM_P_RELEASES=$ROOT/opt/xyz-releases
  export DR_B_ROLLBACK_CONFIG_COMPONENT=service/restore DR_B_ROLLBACK_CONFIG_P_ACTION=config
  export DR_B_ROLLBACK_CONFIG_P_CONFIG_DIR=$ROOT/etc/xyz DR_B_ROLLBACK_CONFIG_P_UNIT_DIR=$U
  export DR_B_ROLLBACK_CONFIG_P_UNIT_MATCH="xyz-*.service xyz.target" DR_B_ROLLBACK_CONFIG_P_DATA_DIR=$ROOT/var/lib/xyz/data
  STEPS=$TOP/scripts/steps
  DIR=$DR_BACKUP_ROOT/$DR_BACKUP_ID
}

snapshot() { (cd "$ROOT" && find . -printf '%y %m %P -> %l\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }

@test "service/backup archives the config dir, the product's units and their links by glob, the release behind the link" {
  run "$STEPS/5-backup/40-backup_local.sh" run
  [ "$status" -eq 0 ]
  python3 - "$DIR/backup_manifest.json" "$ROOT" <<'PY'
import json, sys
m, root = json.load(open(sys.argv[1])), sys.argv[2]
f = m["backup_files"]
assert m["backup_status"] == "completed" and m["verification_passed"] is True
assert f["system_config"]["config_paths"] == [root + "/etc/xyz", root + "/etc/systemd/system/xyz-a.service",
    root + "/etc/systemd/system/xyz.target", root + "/etc/systemd/system/xyz.target.wants/xyz-a.service"], f
assert f["program_directory"]["release"] == "1.0.0" and f["program_directory"]["link"] == root + "/opt/xyz"
assert f["local_data"]["source_path"] == root + "/var/lib/xyz/data/" and "etcd_keys" not in f
PY
  run "$STEPS/5-backup/40-backup_local.sh" check
  [ "$status" -eq 0 ]
}

@test "a rollback from a version the backup never saw stops its new unit and gives back exactly the backup's tree" {
  run "$STEPS/5-backup/40-backup_local.sh" run
  [ "$status" -eq 0 ]
  before=$(snapshot)
  # The "upgrade": a new release switched to, config changed, a new unit that runs (its file then
  # deleted: "not-found active"), another new unit file with its link, data changed.
  cp -a "$ROOT/opt/xyz-releases/1.0.0" "$ROOT/opt/xyz-releases/2.0.0"
  echo 2.0.0 > "$ROOT/opt/xyz-releases/2.0.0/VERSION"
  ln -sfn xyz-releases/2.0.0 "$ROOT/opt/xyz"
  echo 'key=2' > "$ROOT/etc/xyz/xyz.conf"
  echo '[Unit]' > "$U/xyz-new.service"
  ln -s ../xyz-new.service "$U/xyz.target.wants/xyz-new.service"
  echo changed > "$ROOT/var/lib/xyz/data/blob"
  echo active > "$FAKE_SYSTEMD/state/xyz-a.service"
  echo active > "$FAKE_SYSTEMD/state/xyz-gone.service"
  echo active > "$FAKE_SYSTEMD/state/other.service"
  run "$STEPS/rollback/10-rollback_stop.sh" check
  [ "$status" -ne 0 ]
  run "$STEPS/rollback/10-rollback_stop.sh" run
    [ "$status" -eq 0 ] || { echo "$s: $output"; false; }
  # The listed unit first, then what matches, also the one without a unit file; not other.service.
  [ "$(grep '^stop ' "$FAKE_SYSTEMD/log" | tr '\n' ' ')" = "stop xyz-a.service stop xyz-gone.service " ]
  [ "$(cat "$FAKE_SYSTEMD/state/other.service")" = active ]
  run "$STEPS/rollback/10-rollback_stop.sh" check
  [ "$status" -eq 0 ]
  for s in program config; do
    run "$STEPS/rollback/"*"-rollback_$s.sh" check
    [ "$status" -ne 0 ]
    run "$STEPS/rollback/"*"-rollback_$s.sh" run
    [ "$status" -eq 0 ]
    run "$STEPS/rollback/"*"-rollback_$s.sh" check
    [ "$status" -eq 0 ]
  done
  [ "$(snapshot)" = "$before" ]
  [ ! -e "$ROOT/opt/xyz-releases/2.0.0" ] && [ ! -e "$U/xyz-new.service" ] && [ -f "$U/other.service" ]
}

@test "the program is extracted from the backup when the kept release changed" {
  run "$STEPS/5-backup/40-backup_local.sh" run
  [ "$status" -eq 0 ]
  before=$(snapshot)
  echo tampered > "$ROOT/opt/xyz-releases/1.0.0/bin/xyz-a"
  run "$STEPS/rollback/30-rollback_program.sh" run
  [ "$status" -eq 0 ]
  [[ $output == *"extracting it from the backup"* ]]
  [ "$(snapshot)" = "$before" ]
}

@test "service/restore start: units together, then in order (those installed), then its await checks of this node's roles" {
  run "$STEPS/5-backup/40-backup_local.sh" run
  [ "$status" -eq 0 ]
  export DR_B_ROLLBACK_START_COMPONENT=service/restore DR_B_ROLLBACK_START_P_ACTION=start
  export DR_B_ROLLBACK_START_P_UNIT_DIR=$U DR_B_ROLLBACK_START_P_UNITS="xyz-a.service xyz-absent.service"
  export DR_B_ROLLBACK_START_P_THEN_UNITS="xyz.target" DR_B_ROLLBACK_START_P_HEALTH_SECONDS=20
  export DR_B_ROLLBACK_START_P_AWAIT_READY="app: file_is $T/ready yes" DR_B_ROLLBACK_START_P_AWAIT_OTHER="db: run false"
  (sleep 1; echo yes > "$T/ready") &
  run "$STEPS/rollback/50-rollback_start.sh" run
  wait
  [ "$status" -eq 0 ]
  [ "$(grep '^start ' "$FAKE_SYSTEMD/log" | tr '\n' ' ')" = "start --no-block xyz-a.service start xyz.target " ]
  rm "$T/ready"
  run "$STEPS/rollback/50-rollback_start.sh" check
  [ "$status" -ne 0 ]
}
