#!/usr/bin/env bats
# The component protocol (scripts/lib/component.sh): a step runs the component its hop's strategy
# binds to it (DR_B_<STEP>_* in context.env), the interface mapped onto the step protocol, and
# drstep runs a component by hand. Components that need systemd, MariaDB or etcd are proven on
# the lab (tests/integration).

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export DRSTEP_STEPS_DIR=$TOP/scripts/steps
  export DRSTEP_CONTEXT=$BATS_TEST_TMPDIR/context.env
  export DRSTEP_LOCK_DIR=$BATS_TEST_TMPDIR/locks
  export DRUPGRADE_LANG=en
  DRSTEP=$TOP/scripts/bin/drstep
  T=$BATS_TEST_TMPDIR
  : > "$DRSTEP_CONTEXT"
}

bind() {  # bind STEP COMPONENT KEY=VALUE... into the context
  local step=${1^^} comp=$2 kv key
  shift 2
  printf 'DR_B_%s_COMPONENT=%s\n' "$step" "$comp" >> "$DRSTEP_CONTEXT"
  for kv in "$@"; do
    key=${kv%%=*}
    printf 'DR_B_%s_%s=%s\n' "$step" "${key^^}" "${kv#*=}" >> "$DRSTEP_CONTEXT"
  done
}

@test "a bound step runs its component: check is post_check, run does the work, list names it" {
  bind db_migrate base/command "P_RUN=touch $T/done" "P_CHECK=test -e $T/done"
  run "$DRSTEP" db_migrate check
  [ "$status" -ne 0 ]
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 0 ]
  [ -e "$T/done" ]
  run "$DRSTEP" db_migrate check
  [ "$status" -eq 0 ]
  run "$DRSTEP" list
  [[ $output == *db_migrate*"[base/command]"* ]]
}

@test "a step the hop's strategy leaves empty has nothing to do" {
  echo DR_STRATEGY=demo_strategy >> "$DRSTEP_CONTEXT"
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 0 ]
  [[ $output == *"strategy (demo_strategy) fills this step with no component: nothing to do"* ]]
  run "$DRSTEP" db_migrate check
  [ "$status" -eq 0 ]
}

@test "without a check command the work is done only right after it succeeded" {
  bind db_migrate base/command "P_RUN=true"
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 0 ]
  run "$DRSTEP" db_migrate check
  [ "$status" -ne 0 ]
}

@test "RETRIES attempts, the component's rollback between them; cleanup is rollback" {
  printf '#!/bin/sh\n[ -e %s/once ] && exit 0\ntouch %s/once\nexit 1\n' "$T" "$T" > "$T/flaky"
  printf '#!/bin/sh\necho undone >> %s/undo.log\n' "$T" > "$T/undo"
  chmod +x "$T/flaky" "$T/undo"
  bind db_migrate base/command "P_RUN=$T/flaky" "P_UNDO=$T/undo" RETRIES=2
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 0 ]
  [[ $output == *"failed (attempt 1): undoing, then again"* ]]
  [ "$(cat "$T/undo.log")" = undone ]
  run "$DRSTEP" db_migrate cleanup
  [ "$status" -eq 0 ]
  [ "$(wc -l < "$T/undo.log")" -eq 2 ]
}

@test "one attempt and it fails: the step fails naming the component" {
  bind db_migrate base/command "P_RUN=false"
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 1 ]
  [[ $output == *"the component base/command failed (1 attempts)"* ]]
}

@test "TIMEOUT stops an attempt that runs over, and what it started" {
  printf '#!/bin/sh\nexec >/dev/null 2>&1\nsleep 31.5\n' > "$T/slow"  # its output closed: run returns at once
  chmod +x "$T/slow"
  bind db_migrate base/command "P_RUN=$T/slow" TIMEOUT=1
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 1 ]
  [[ $output == *"ran over 1s: stopped"* ]]
  run pgrep -fx "sleep 31.5"
  [ "$status" -eq 1 ]
}

@test "set -e holds inside execute: a failing command stops it" {
  run bash -c 'source "$1/scripts/lib/step.sh"; source "$1/scripts/lib/component.sh"
    DR_COMPONENT=test
    execute() { false; touch "$2/after"; }
    component::run 1 ""' _ "$TOP" "$T"
  [ "$status" -eq 1 ]
  [ ! -e "$T/after" ]
}

@test "drstep component runs a component by hand with KEY=VALUE parameters" {
  run "$DRSTEP" component base/command execute "run=touch $T/by-hand"
  [ "$status" -eq 0 ]
  [ -e "$T/by-hand" ]
  run "$DRSTEP" component base/command post_check "check=test -e $T/by-hand"
  [ "$status" -eq 0 ]
  run "$DRSTEP" component base/nope execute
  [ "$status" -eq 2 ]
  [[ $output == *"unknown component: base/nope"* ]]
  run "$DRSTEP" component base/command execute
  [ "$status" -eq 2 ]
  [[ $output == *"needs the parameter run (DR_P_RUN)"* ]]
  run "$DRSTEP" component base/command execute "bad key=1"
  [ "$status" -eq 2 ]
}

@test "service/monitor: the checks of this node's roles, each failing one named" {
  echo 2.2.0 > "$T/VERSION"
  echo DR_ROLES=web,db >> "$DRSTEP_CONTEXT"
  bind check_services service/monitor "P_CHECK_VERSION=any: file_is $T/VERSION 2.2.0" \
    "P_CHECK_OTHER=cache: run false" "P_CHECK_ECHO=db: equals hello echo hello" \
    "P_CHECK_SAME=db: at_least 2.2.0 cat $T/VERSION" "P_CHECK_NEWER=db: at_least 2.1.10 cat $T/VERSION"
  run "$DRSTEP" check_services run
  [ "$status" -eq 0 ]
  bind check_services service/monitor "P_CHECK_BAD=web: file_is $T/VERSION 2.3.0" \
    "P_CHECK_OLDER=db: at_least 2.10.0 cat $T/VERSION" "P_CHECK_NONE=db: at_least 1.0.0 cat $T/NONE"
  run "$DRSTEP" check_services run
  [ "$status" -eq 1 ]
  [[ $output == *"these services or checks failed: "* && $output == *"bad (file_is $T/VERSION 2.3.0)"* ]]
  [[ $output == *"older (at_least 2.10.0 cat $T/VERSION)"* && $output == *"none (at_least 1.0.0 cat $T/NONE)"* ]]
}

@test "service/monitor: wait SECONDS KIND holds once the check does within the time; an unknown kind is exit 2" {
  echo DR_ROLES=web >> "$DRSTEP_CONTEXT"
  (sleep 1; echo 2.2.0 > "$T/LATE") &
  bind check_services service/monitor "P_CHECK_LATE=web: wait 20 file_is $T/LATE 2.2.0"
  run "$DRSTEP" check_services run
  [ "$status" -eq 0 ]
  wait
  bind check_services service/monitor "P_CHECK_NEVER=any: wait 1 file_is $T/NEVER 1"
  run "$DRSTEP" check_services run
  [ "$status" -eq 1 ]
  [[ $output == *"never (wait 1 file_is $T/NEVER 1)"* ]]
  : > "$DRSTEP_CONTEXT"
  bind check_services service/monitor "P_CHECK_ODD=any: no_such_kind x"
  run "$DRSTEP" check_services run
  [ "$status" -ne 0 ]
  [[ $output == *"unknown kind of check: no_such_kind"* ]]
}

@test "adapter/schema_version: the migration, then the recorded version must be the target" {
  echo 2.1.0 > "$T/schema"
  printf '#!/bin/sh\necho 2.2.0 > %s/schema\n' "$T" > "$T/migrate"
  chmod +x "$T/migrate"
  bind db_data_upgrade adapter/schema_version "P_RUN=$T/migrate" P_VERSION=2.2.0 "P_SCHEMA_VERSION=cat $T/schema"
  run "$DRSTEP" db_data_upgrade check
  [ "$status" -ne 0 ]
  run "$DRSTEP" db_data_upgrade run
  [ "$status" -eq 0 ]
  run "$DRSTEP" db_data_upgrade check
  [ "$status" -eq 0 ]
}

@test "service/config installs the mapped file under the target name, keeping owner and mode" {
  printf '[a]\nb = 1\n' > "$T/app.ini"
  chmod 0640 "$T/app.ini"
  printf '{"a": {"b": 1}}\n' > "$T/mapped.json"
  bind config_pre service/config "P_FILE=$T/app.ini" "P_TARGET=$T/app.json" "P_MAPPED=$T/mapped.json" \
    P_MAPPING=config/demo.json
  run "$DRSTEP" config_pre check
  [ "$status" -ne 0 ]
  run "$DRSTEP" config_pre run
  [ "$status" -eq 0 ]
  [ ! -e "$T/app.ini" ]
  cmp "$T/app.json" "$T/mapped.json"
  [ "$(stat -c %a "$T/app.json")" = 640 ]
  run "$DRSTEP" config_pre check
  [ "$status" -eq 0 ]
  rm "$T/mapped.json"
  bind config_pre service/config "P_FILE=$T/x.ini" "P_MAPPED=$T/mapped.json"
  run "$DRSTEP" config_pre run
  [ "$status" -eq 1 ]
  [[ $output == *"the mapped config $T/mapped.json is missing"* ]]
}

@test "a crash point inside execute kills the whole step, nothing after it runs" {
  mkdir -p "$T/faults"
  echo crash > "$T/faults/db_migrate"
  bind db_migrate base/command "P_RUN=touch $T/ran" "P_POINT=before migrating"
  DR_FAULT_INJECTION=on DR_FAULT_DIR=$T/faults run "$DRSTEP" db_migrate run
  [ "$status" -eq 137 ]
  sleep 1
  [ ! -e "$T/ran" ]
}

# A release tree with its MANIFEST.sha256: release DIR VERSION
release() {
  mkdir -p "$1/bin"
  echo "$2" > "$1/VERSION"
  printf '#!/bin/sh\necho %s\n' "$2" > "$1/bin/tool"
  chmod 0755 "$1/bin/tool"
  (cd "$1" && find . -type f ! -name MANIFEST.sha256 -printf '%P\n' | LC_ALL=C sort | xargs sha256sum > MANIFEST.sha256)
}

@test "service/release without a release tool: the package copied beside the old release, the link switched, the cleanup switches back" {
  local opt=$T/opt pkg=$T/work/app-1.1.0
  release "$opt/app-releases/1.0.0" 1.0.0
  ln -s app-releases/1.0.0 "$opt/app"
  release "$pkg" 1.1.0
  touch "$pkg/.unpacked"
  printf '#!/bin/sh\necho "$1" > %s/roles\ntouch %s/app.target\n' "$T" "$T" > "$T/units-install"
  chmod +x "$T/units-install"
  echo DR_ROLES=web,db >> "$DRSTEP_CONTEXT"
  bind install service/release P_ACTION=install "P_DIR=$pkg" P_VERSION=1.1.0 "P_OLD_RELEASE=$opt/app-releases/1.0.0" \
    "P_NEW_RELEASE=$opt/app-releases/1.1.0" "P_LINK=$opt/app" "P_UNITS_INSTALL=$T/units-install" \
    "P_ACTIVE_FILE=$opt/app/VERSION" "P_INSTALLED_UNIT=$T/app.target" P_INSTALL= P_ACTIVATE= P_VERIFY=
  run "$DRSTEP" install check
  [ "$status" -ne 0 ]
  run "$DRSTEP" install run
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(readlink "$opt/app")" = app-releases/1.1.0 ]
  [ "$(cat "$opt/app/VERSION")" = 1.1.0 ] && [ "$(cat "$T/roles")" = web,db ]
  [ ! -e "$opt/app-releases/1.1.0/.unpacked" ] && [ -d "$opt/app-releases/1.0.0" ]
  [ "$(find "$opt" -name '.*' | wc -l)" -eq 0 ]  # no staging dir or temporary link left
  run "$DRSTEP" install check
  [ "$status" -eq 0 ]
  echo changed >> "$opt/app-releases/1.1.0/bin/tool"  # the active release no longer verifies
  run "$DRSTEP" install check
  [ "$status" -ne 0 ]
  run "$DRSTEP" install run  # a retry puts the release back from the package
  [ "$status" -eq 0 ]
  run "$DRSTEP" install check
  [ "$status" -eq 0 ]

  bind unzip service/release P_ACTION=unpack "P_DIR=$pkg" P_VERSION=1.1.0 "P_OLD_RELEASE=$opt/app-releases/1.0.0" \
    "P_NEW_RELEASE=$opt/app-releases/1.1.0" "P_LINK=$opt/app" P_UNITS=app.target "P_UNIT_DIR=$T/none" \
    "P_CONFIG_DIR=$T/etc" P_ACTIVATE_OLD= P_DATA_DIR= P_DATA_KEPT=
  printf 'DR_BACKUP_ROOT=%s\nDR_BACKUP_ID=backup_1\n' "$T/backup" >> "$DRSTEP_CONTEXT"
  run "$DRSTEP" unzip cleanup
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(readlink "$opt/app")" = app-releases/1.0.0 ]
  [ ! -e "$opt/app-releases/1.1.0" ] && [ ! -e "$pkg" ]
}

@test "service/release refuses to replace a program directory that is not a link" {
  release "$T/opt/app-releases/1.1.0" 1.1.0
  mkdir -p "$T/opt/app"
  run "$DRSTEP" component service/release execute action=install "dir=$T/opt/app-releases/1.1.0" \
    "new_release=$T/opt/app-releases/1.1.0" "link=$T/opt/app" "units_install=true"
  [ "$status" -ne 0 ]
  [[ $output == *"$T/opt/app is a directory, not a release link: not replacing it"* ]]
  [ -d "$T/opt/app" ] && [ ! -L "$T/opt/app" ]
}

@test "business/permissions: prepare on its roles every time, create only while the check fails, never twice" {
  printf '#!/bin/sh\necho x >> %s/created\ntouch %s/account\n' "$T" "$T" > "$T/create"
  printf '#!/bin/sh\necho p >> %s/prepared\n' "$T" > "$T/prepare"
  chmod +x "$T/create" "$T/prepare"
  echo DR_ROLES=db_replica >> "$DRSTEP_CONTEXT"
  bind init_sdba business/permissions "P_PREPARE=$T/prepare" P_PREPARE_ROLES=db_primary \
    "P_CHECK=test -e $T/account" "P_CREATE=$T/create"
  run "$DRSTEP" init_sdba check
  [ "$status" -ne 0 ]
  run "$DRSTEP" init_sdba progress
  [[ $output == *"account missing"* ]]
  run "$DRSTEP" init_sdba run
  [ "$status" -eq 0 ]
  [ "$(wc -l < "$T/created")" -eq 1 ] && [ ! -e "$T/prepared" ]  # not a db_primary
  echo DR_ROLES=db_primary >> "$DRSTEP_CONTEXT"
  sed -i '/^DR_ROLES=db_replica$/d' "$DRSTEP_CONTEXT"
  run "$DRSTEP" init_sdba run  # a second run: prepared again, the account not made twice
  [ "$status" -eq 0 ]
  [[ $output == *"the account exists and logs in: not creating it again"* ]]
  [ "$(wc -l < "$T/created")" -eq 1 ] && [ "$(wc -l < "$T/prepared")" -eq 1 ]
  run "$DRSTEP" init_sdba progress
  [[ $output == *"account ok"* ]]
}

@test "business/permissions: a create that leaves no working account fails the step" {
  bind init_sdba business/permissions "P_CHECK=false" "P_CREATE=true"
  run "$DRSTEP" init_sdba run
  [ "$status" -ne 0 ]
  [[ $output == *"the post-check of the component business/permissions failed"* ]]
}

@test "business/data_migration: the records counted before the first attempt must all be there after it" {
  printf 'objects 3 x\nsettings 2 y\n' > "$T/counts"
  printf '#!/bin/sh\ncat %s/counts\n' "$T" > "$T/records"
  printf '#!/bin/sh\necho migrated >> %s/migrated\n' "$T" > "$T/migrate"
  chmod +x "$T/records" "$T/migrate"
  printf 'DR_STATE_DIR=%s/state\nDR_RUN_ID=run_1\n' "$T" >> "$DRSTEP_CONTEXT"
  bind db_migrate business/data_migration "P_RUN=$T/migrate" "P_CHECK=test -e $T/migrated" "P_RECORDS=$T/records"
  run "$DRSTEP" db_migrate run
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"records before the migration: objects 3 settings 2"* ]]
  [ "$(cat "$T/state/data_migration/run_1.db_migrate.records")" = $'objects 3\nsettings 2' ]
  printf 'objects 3 z\nsettings 2 y\nbuckets 1 w\n' > "$T/counts"  # a new table, rows rewritten: kept
  run "$DRSTEP" db_migrate check
  [ "$status" -eq 0 ]
  printf 'objects 2 z\nbuckets 1 w\n' > "$T/counts"  # a row lost, a table gone
  run "$DRSTEP" db_migrate check
  [ "$status" -ne 0 ]
  [[ $output == *"the migration changed the number of business records (before -> after): objects: 3 -> 2; settings: 2 -> (gone);"* ]]
  run "$DRSTEP" db_migrate run  # a retry compares against the record from before the first attempt
  [ "$status" -ne 0 ]
  [[ $output == *"objects: 3 -> 2"* ]]
  run "$DRSTEP" db_migrate progress
  [[ $output == *"records before: objects 3 settings 2"* ]]
  sed -i 's/^DR_RUN_ID=run_1$/DR_RUN_ID=run_2/' "$DRSTEP_CONTEXT"  # the next run counts anew
  run "$DRSTEP" db_migrate run
  [ "$status" -eq 0 ]
  [ ! -e "$T/state/data_migration/run_1.db_migrate.records" ]
  [ "$(cat "$T/state/data_migration/run_2.db_migrate.records")" = $'objects 2\nbuckets 1' ]
}

@test "business/data_migration: a records command that fails stops the migration before it runs" {
  printf 'DR_STATE_DIR=%s/state\nDR_RUN_ID=run_1\n' "$T" >> "$DRSTEP_CONTEXT"
  bind db_migrate business/data_migration "P_RUN=touch $T/migrated" "P_RECORDS=false"
  run "$DRSTEP" db_migrate run
  [ "$status" -ne 0 ]
  [[ $output == *"cannot count the records before the migration (the records command failed)"* ]]
  [ ! -e "$T/migrated" ]
}
