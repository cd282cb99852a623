#!/usr/bin/env bats
# A backup is durable before it is declared complete, and declared verified only after its
# verification passed (scripts/components/service/backup.sh bound to the step
# scripts/steps/5-backup/40-backup_local.sh, drp-dbtool dump).
# The step runs for real on a small fake product tree, bound as drp's strategy binds it but with the
# paths under ROOT; `sync` is a stub that records each call and what the backup looked like then.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  ROOT=$BATS_TEST_TMPDIR/root
  # The step, its libraries and components, bound to the product's paths under ROOT.
  mkdir -p "$BATS_TEST_TMPDIR/tool/steps/5-backup" "$BATS_TEST_TMPDIR/bin"
  cp -r "$TOP/scripts/lib" "$BATS_TEST_TMPDIR/tool/lib"
  cp -r "$TOP/scripts/components" "$BATS_TEST_TMPDIR/tool/components"
  export DR_B_BACKUP_LOCAL_COMPONENT=service/backup DR_B_BACKUP_LOCAL_P_LINK=$ROOT/opt/drp
  export DR_B_BACKUP_LOCAL_P_CONFIG_DIR=$ROOT/etc/drp DR_B_BACKUP_LOCAL_P_UNIT_DIR=$ROOT/etc/systemd/system
  export DR_B_BACKUP_LOCAL_P_UNIT_MATCH="drp-*.service drp.target" DR_B_BACKUP_LOCAL_P_DATA_DIR=$ROOT/var/lib/drp/data
  STEP=$BATS_TEST_TMPDIR/tool/steps/5-backup/40-backup_local.sh
  cp "$TOP/scripts/steps/5-backup/40-backup_local.sh" "$STEP"
  mkdir -p "$ROOT/opt/drp-releases/1.0.0/bin" "$ROOT/etc/drp" "$ROOT/etc/systemd/system" "$ROOT/var/lib/drp/data"
  echo 1.0.0 > "$ROOT/opt/drp-releases/1.0.0/VERSION"
  echo 'echo app' > "$ROOT/opt/drp-releases/1.0.0/bin/drp-app"
  ln -s "$ROOT/opt/drp-releases/1.0.0" "$ROOT/opt/drp"
  echo '{"x": 1}' > "$ROOT/etc/drp/drp.json"
  echo '[Unit]' > "$ROOT/etc/systemd/system/drp-app.service"
  head -c 4096 /dev/urandom > "$ROOT/var/lib/drp/data/blob"
  export DRUPGRADE_LANG=en DR_NODE=node1 DR_ROLES=app DR_FROM=1.0.0 DR_TO=2.2.0
  export DR_BACKUP_ROOT=$BATS_TEST_TMPDIR/backup DR_BACKUP_ID=backup_20260101_000000
  export DR_STATE_DIR=$BATS_TEST_TMPDIR/node-state SYNC_LOG=$BATS_TEST_TMPDIR/sync.log
  DIR=$DR_BACKUP_ROOT/$DR_BACKUP_ID
  # sync: "<state> sync ARGS", state = none | manifest (in place) | verified (it says so) | marked
  cat > "$BATS_TEST_TMPDIR/bin/sync" <<'SH'
#!/usr/bin/env bash
m=$DR_BACKUP_ROOT/$DR_BACKUP_ID/backup_manifest.json s=none
[[ -f $m ]] && s=manifest
grep -qs '"verification_passed": true' "$m" && s=verified
grep -qs "$DR_BACKUP_ID" "$DR_STATE_DIR/backup_state.json" && s=marked
echo "$s sync $*" >> "$SYNC_LOG"
SH
  chmod +x "$BATS_TEST_TMPDIR/bin/sync"
  export PATH=$BATS_TEST_TMPDIR/bin:$PATH
}

# The line number of the first sync.log line matching an extended regex (fails when there is none).
first() { grep -nE -m1 -- "$1" "$SYNC_LOG" | cut -d: -f1 | grep .; }

@test "files::archive: the archive is fsynced before it gets its name" {
  # shellcheck disable=SC1091
  source "$BATS_TEST_TMPDIR/tool/lib/step.sh"
  # shellcheck disable=SC1091
  source "$BATS_TEST_TMPDIR/tool/components/base/files.sh"
  files::archive "$BATS_TEST_TMPDIR/a.tar.gz" "$ROOT/etc/drp"
  [ -f "$BATS_TEST_TMPDIR/a.tar.gz" ] && [ ! -e "$BATS_TEST_TMPDIR/a.tar.gz.part" ]
  [ "$(cat "$SYNC_LOG")" = "none sync -- $BATS_TEST_TMPDIR/a.tar.gz.part" ]
}

@test "backup_local: files fsynced, the backup filesystem synced, then the manifest, then the mark" {
  run "$STEP" run
  [ "$status" -eq 0 ]
  grep -q '"backup_status": "completed"' "$DIR/backup_manifest.json"
  grep -q '"verification_passed": true' "$DIR/backup_manifest.json"
  grep -q "$DR_BACKUP_ID" "$DR_STATE_DIR/backup_state.json"
  for f in program_directory.tar.gz system_config.tar.gz local_data.tar.gz SHA256SUMS backup_manifest.json; do
    [ -n "$(first "^none sync -- ($DIR/)?$f\.part$")" ]
  done
  fs=$(first "^none sync -f -- $DIR$")
  dir=$(first "^verified sync -- $DIR$")
  mark=$(first "^verified sync -- $DR_STATE_DIR/backup_state.json.tmp$")
  marked=$(first "^marked sync -- $DR_STATE_DIR$")
  (( fs < dir && dir < mark && mark < marked ))
  [ "$(sed -n "1,${fs}p" "$SYNC_LOG" | grep -c '^none ')" -eq "$fs" ]  # nothing said completed before the syncfs
}

@test "backup_local: a backup that fails its verification is never marked verified or complete" {
  real_tar=$(command -v tar)
  cat > "$BATS_TEST_TMPDIR/bin/tar" <<SH
#!/usr/bin/env bash
# The archive of local data does not list: the verification of design §4.4.1.3 fails.
if [[ \$1 == -tzf && \$2 == *local_data.tar.gz ]]; then echo "tar: unexpected end of file" >&2; exit 2; fi
exec $real_tar "\$@"
SH
  chmod +x "$BATS_TEST_TMPDIR/bin/tar"
  run "$STEP" run
  [ "$status" -ne 0 ]
  [[ $output == *"the backup failed verification"* ]]
  [ -z "$(grep -ls '"verification_passed": true' "$DIR"/backup_manifest.json*)" ]
  [ -z "$(grep -ls "$DR_BACKUP_ID" "$DR_STATE_DIR/backup_state.json")" ]
  run "$STEP" check
  [ "$status" -ne 0 ]
}

@test "drp-dbtool dump: the dump is fsynced before its rename, and its directory after" {
  printf '#!/bin/sh\necho 0\n' > "$BATS_TEST_TMPDIR/bin/mariadb"
  printf '#!/bin/sh\necho "CREATE TABLE t (id int);"\necho "-- Dump completed on 2026-01-01"\n' \
    > "$BATS_TEST_TMPDIR/bin/mysqldump"
  chmod +x "$BATS_TEST_TMPDIR/bin/mariadb" "$BATS_TEST_TMPDIR/bin/mysqldump"
  run python3 - "$TOP/packaging/drp/src/bin/drp-dbtool" "$BATS_TEST_TMPDIR/dump/database_backup.sql" \
    "$BATS_TEST_TMPDIR/events" <<'PY'
import importlib.machinery, importlib.util, os, sys
tool, dump, out = sys.argv[1:]
os.makedirs(os.path.dirname(dump))
loader = importlib.machinery.SourceFileLoader("drp_dbtool", tool)
mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("drp_dbtool", loader))
loader.exec_module(mod)
events = []
fsync, rename = os.fsync, os.rename
os.fsync = lambda fd: (events.append("fsync " + os.readlink("/proc/self/fd/%d" % fd)), fsync(fd))[1]
os.rename = lambda a, b: (events.append("rename " + a), rename(a, b))[1]
sys.argv = ["drp-dbtool", "dump", dump]
rc = mod.main()
open(out, "w").write("".join(e + "\n" for e in events))
sys.exit(rc)
PY
  [ "$status" -eq 0 ]
  d=$BATS_TEST_TMPDIR/dump
  diff <(printf '%s\n' "fsync $d/database_backup.sql.part" "rename $d/database_backup.sql.part" "fsync $d") \
    "$BATS_TEST_TMPDIR/events"
}

@test "backup::local_data: a tree written while it is archived is archived again, its hash the archive's" {
  # shellcheck disable=SC1091
  source "$BATS_TEST_TMPDIR/tool/lib/step.sh"
  COMPONENTS_DIR=$BATS_TEST_TMPDIR/tool/components
  # shellcheck disable=SC1091
  source "$COMPONENTS_DIR/service/backup.sh"
  data=$ROOT/var/lib/drp/data
  real_archive=$(declare -f files::archive)
  # The first archive races a service's write (a heartbeat file replaced); the second does not.
  eval "${real_archive/files::archive/real_archive}"
  files::archive() { real_archive "$@"; [[ -e $BATS_TEST_TMPDIR/wrote ]] || { echo beat > "$data/hb.json"; touch "$BATS_TEST_TMPDIR/wrote"; }; }
  sum=$(backup::local_data "$BATS_TEST_TMPDIR/l4.tar.gz" "$data" 2> "$BATS_TEST_TMPDIR/log")
  grep -q "changed while it was archived (a service writes it): archiving it again (1/5)" "$BATS_TEST_TMPDIR/log"
  mkdir "$BATS_TEST_TMPDIR/x" && tar -C "$BATS_TEST_TMPDIR/x" -xzf "$BATS_TEST_TMPDIR/l4.tar.gz"
  [ "$sum" = "$(files::tree_hash "$BATS_TEST_TMPDIR/x${data}")" ] && [ "$sum" = "$(files::tree_hash "$data")" ]
  [ "$(cat "$BATS_TEST_TMPDIR/x${data}/hb.json")" = beat ]
}
