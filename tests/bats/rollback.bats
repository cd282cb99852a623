#!/usr/bin/env bats
# The rollback's library (scripts/lib/rollback.sh: service/restore, service/mariadb recover, the
# backup check) and drstep's rollback context.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export DRUPGRADE_LANG=en DR_BACKUP_ROOT=$BATS_TEST_TMPDIR/backup DR_BACKUP_ID=backup_20260101_000000
  mkdir -p "$DR_BACKUP_ROOT/$DR_BACKUP_ID"
  cat > "$DR_BACKUP_ROOT/$DR_BACKUP_ID/backup_manifest.json" <<'JSON'
{
  "backup_id": "backup_20260101_000000",
  "backup_files": {
    "program_directory": {"file": "program_directory.tar.gz", "size": 1, "sha256": "aa", "md5": "bb", "source_path": "/opt/drp-releases/2.1.0/", "release": "2.1.0", "link": "/opt/drp", "tree_sha256": "cc", "meta_sha256": "dd"},
    "system_config": {"file": "system_config.tar.gz", "size": 2, "sha256": "ee", "md5": "ff", "config_paths": ["/etc/drp"], "tree_sha256": "11"}
  },
  "backup_status": "completed",
  "verification_passed": true
}
JSON
}

lib() {
  # shellcheck disable=SC1090,SC1091
  source "$TOP/scripts/lib/step.sh"
  source "$TOP/scripts/lib/rollback.sh"
}

@test "manifest fields are read per backup_files entry; a missing one is empty" {
  lib
  [ "$(rb::field program_directory release)" = 2.1.0 ]
  [ "$(rb::field program_directory tree_sha256)" = cc ]
  [ "$(rb::field system_config tree_sha256)" = 11 ]
  [ -z "$(rb::field system_config meta_sha256)" ]
  [ -z "$(rb::field database_backup sha256)" ]
  [ "$(rb::version)" = 2.1.0 ]
}

@test "releases newer than the backup's are the ones to remove" {
  lib
  releases=$BATS_TEST_TMPDIR/releases
  mkdir -p "$releases"/{1.0.0,2.1.0,2.2.0,10.0.0}
  [ "$(rb::newer_releases "$releases" 2.1.0 | sort -V | tr '\n' ' ')" = "2.2.0 10.0.0 " ]
}

@test "etcd keys of the backup decode to key and base64 value" {
  lib
  printf '%s' '{"header":{"revision":9},"kvs":[{"key":"L2RycC9jb25maWcvdmVyc2lvbg==","create_revision":2,"mod_revision":8,"version":3,"value":"Mi4xLjA="},{"key":"L2RycC9ub2Rlcy9ub2RlMQ==","value":"eyJ4IjogMX0="}],"count":2}' \
    > "$DR_BACKUP_ROOT/$DR_BACKUP_ID/etcd_keys.json"
  run rb::etcd_backup_keys
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "/drp/config/version"$'\t'"Mi4xLjA=" ]
  [ "${lines[1]}" = "/drp/nodes/node1"$'\t'"eyJ4IjogMX0=" ]
}

@test "the metadata hash changes with a file's size or mode, not with nothing" {
  lib
  d=$BATS_TEST_TMPDIR/tree
  mkdir -p "$d/bin"
  printf 'a' > "$d/bin/x"
  touch -d @1000 "$d/bin/x" "$d/bin" "$d"
  h1=$(files::tree_meta_hash "$d")
  [ "$h1" = "$(files::tree_meta_hash "$d")" ]
  chmod +x "$d/bin/x"
  [ "$h1" != "$(files::tree_meta_hash "$d")" ]
}

@test "drstep gives rollback steps rollback.env, not context.env" {
  export DRSTEP_STEPS_DIR=$TOP/tests/fixtures/steps DRSTEP_LIB=$TOP/scripts/lib
  export DRSTEP_CONTEXT=$BATS_TEST_TMPDIR/context.env DRSTEP_ROLLBACK_CONTEXT=$BATS_TEST_TMPDIR/rollback.env
  export DRSTEP_LOCK_DIR=$BATS_TEST_TMPDIR/locks
  unset DR_BACKUP_ID
  printf 'DR_BACKUP_ID=from_upgrade\n' > "$DRSTEP_CONTEXT"
  printf 'DR_BACKUP_ID=backup_rb\n' > "$DRSTEP_ROLLBACK_CONTEXT"
  run "$TOP/scripts/bin/drstep" rb_demo run
  [ "$status" -eq 0 ]
  [[ $output == *"backup=backup_rb"* ]]
  run "$TOP/scripts/bin/drstep" list
  [[ $output == *rb_demo*rollback* ]]
}

@test "an extracted copy of a tree has the same metadata hash (whole seconds)" {
  lib
  d=$BATS_TEST_TMPDIR/src
  mkdir -p "$d/bin"
  printf 'abc' > "$d/bin/x"
  tar -C "$BATS_TEST_TMPDIR" -czf "$BATS_TEST_TMPDIR/a.tgz" src
  mkdir "$BATS_TEST_TMPDIR/out"
  tar -C "$BATS_TEST_TMPDIR/out" -xzf "$BATS_TEST_TMPDIR/a.tgz"
  [ "$(files::tree_meta_hash "$d")" = "$(files::tree_meta_hash "$BATS_TEST_TMPDIR/out/src")" ]
}

manifest_with() {
  # The setup's manifest with the program release $1 and the system_config file name $2.
  sed -i -e "s|\"release\": \"[^\"]*\"|\"release\": \"$1\"|" \
    -e "s|\"system_config\": {\"file\": \"[^\"]*\"|\"system_config\": {\"file\": \"$2\"|" \
    "$DR_BACKUP_ROOT/$DR_BACKUP_ID/backup_manifest.json"
}

@test "a manifest's release must be a version before it names a directory" {
  lib
  for bad in "../../etc" "2.1.0/../../x" "2.1" "2.1.0 " '2.1.0;rm' "v2.1.0"; do
    manifest_with "$bad" system_config.tar.gz
    run rb::version
    [ "$status" -ne 0 ]
    [[ $output == *"not a version (N.N.N): refused"* ]]
  done
  manifest_with 10.20.30 system_config.tar.gz
  [ "$(rb::version)" = 10.20.30 ]
}

@test "a manifest's file names must be plain names in the backup dir" {
  lib
  for bad in "../../../etc/shadow" "/etc/shadow" ".." "." "a b" "x/y"; do
    manifest_with 2.1.0 "$bad"
    run rb::file system_config
    [ "$status" -ne 0 ]
    [[ $output == *"not a plain file name: refused"* ]]
  done
  manifest_with 2.1.0 "system_config.tar.gz"
  [ "$(rb::file system_config)" = system_config.tar.gz ]
  [ -z "$(rb::file database_backup)" ]
}

@test "the check step refuses a manifest whose fields would be paths, before reading any file" {
  export DRSTEP_STEPS_DIR=$TOP/scripts/steps DRSTEP_ROLLBACK_CONTEXT=/dev/null
  manifest_with 2.1.0 "../../secret"
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -ne 0 ]
  [[ $output == *"'../../secret' for system_config, which is not a plain file name"* ]]
  manifest_with "../2.1.0" system_config.tar.gz
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -ne 0 ]
  [[ $output == *"'../2.1.0', which is not a version"* ]]
}

real_backup() {
  # A backup whose three archives and dump are real files with their sha256 in the manifest.
  local d=$DR_BACKUP_ROOT/$DR_BACKUP_ID f entries=()
  mkdir -p "$BATS_TEST_TMPDIR/tree/etc"
  printf 'x\n' > "$BATS_TEST_TMPDIR/tree/etc/a"
  for f in program_directory system_config local_data; do
    tar -czf "$d/$f.tar.gz" -C "$BATS_TEST_TMPDIR/tree" etc
  done
  printf 'dump\n-- Dump completed on 2026-01-01\n' > "$d/database_backup.sql"
  for f in program_directory system_config local_data; do
    entries+=("\"$f\": {\"file\": \"$f.tar.gz\", \"sha256\": \"$(sha256sum < "$d/$f.tar.gz" | cut -d' ' -f1)\", \"release\": \"2.1.0\"}")
  done
  entries+=("\"database_backup\": {\"file\": \"database_backup.sql\", \"sha256\": \"$(sha256sum < "$d/database_backup.sql" | cut -d' ' -f1)\"}")
  {
    printf '{\n  "backup_files": {\n'
    printf '    %s,\n' "${entries[@]:0:3}"
    printf '    %s\n  },\n' "${entries[3]}"
    printf '  "backup_status": "completed",\n  "verification_passed": true\n}\n'
  } > "$d/backup_manifest.json"
}

@test "the check step hashes every file at once, names the file that fails, and reads each file once" {
  export DRSTEP_STEPS_DIR=$TOP/scripts/steps DRSTEP_ROLLBACK_CONTEXT=/dev/null
  local d=$DR_BACKUP_ROOT/$DR_BACKUP_ID
  real_backup
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -eq 0 ]
  [[ $output == *"backup $DR_BACKUP_ID verifies (version 2.1.0)"* ]]
  printf 'more\n' >> "$d/database_backup.sql"
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -ne 0 ]
  [[ $output == *"the backup file $d/database_backup.sql is corrupted"* ]]
  real_backup
  rm "$d/local_data.tar.gz"
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -ne 0 ]
  [[ $output == *"the backup file $d/local_data.tar.gz is missing"* ]]
  # The archives are not listed again (the backup's verification listed these very bytes): a tar
  # that records its calls is never called, and the hash of a changed archive still fails it.
  real_backup
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  printf '#!/bin/sh\necho "$*" >> "%s/tar.calls"\nexit 2\n' "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/bin/tar"
  chmod +x "$BATS_TEST_TMPDIR/bin/tar"
  PATH=$BATS_TEST_TMPDIR/bin:$PATH run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -eq 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/tar.calls" ]
  printf 'not gzip' > "$d/system_config.tar.gz"
  run "$TOP/scripts/bin/drstep" rollback_check_backup run
  [ "$status" -ne 0 ]
  [[ $output == *"the backup file $d/system_config.tar.gz is corrupted"* ]]
}

@test "the staged config copy is private, the DB server's copy readable, both gone after unstage" {
  lib
  export RB_STAGE_ROOT=$BATS_TEST_TMPDIR/run/drupgrade-rollback
  mkdir -p "$BATS_TEST_TMPDIR/src/etc/drp"
  printf 'secret\n' > "$BATS_TEST_TMPDIR/src/etc/drp/drp.ini" && printf '[mysqld]\n' > "$BATS_TEST_TMPDIR/src/etc/drp/mariadb.cnf"
  tar -C "$BATS_TEST_TMPDIR/src" -czf "$DR_BACKUP_ROOT/$DR_BACKUP_ID/system_config.tar.gz" etc/drp
  stage=$(rb::stage /etc/drp)
  [ "$stage" = "$RB_STAGE_ROOT/$DR_BACKUP_ID" ]
  [ "$(stat -c %a "$stage")" = 700 ]
  [ "$(cat "$stage/etc/drp/drp.ini")" = secret ]
  cnf=$(rb::db_config /etc/drp mariadb.cnf)
  [ "$cnf" = "$stage.db/mariadb.cnf" ] && [ "$(stat -c %a "$cnf")" = 644 ] && [ "$(stat -c %a "$stage.db")" = 755 ]
  rb::mark_suspect
  [ -f "$stage/program.suspect" ]
  rb::unstage
  [ ! -e "$stage" ] && [ ! -e "$stage.db" ] && [ -d "$RB_STAGE_ROOT" ]
}

@test "without a backup id nothing of the stage root is removed" {
  lib
  export RB_STAGE_ROOT=$BATS_TEST_TMPDIR/run/drupgrade-rollback
  mkdir -p "$RB_STAGE_ROOT/backup_other/etc"
  DR_BACKUP_ID='' run rb::unstage
  [ "$status" -ne 0 ]
  for id in .. . "a/../.."; do
    DR_BACKUP_ID=$id run rb::stage /etc/drp
    [ "$status" -ne 0 ]
    DR_BACKUP_ID=$id run rb::unstage
    [ "$status" -ne 0 ]
  done
  [ -d "$RB_STAGE_ROOT/backup_other/etc" ]
}
