#!/usr/bin/env bats
# scripts/bin/drcontext: the timeout context masks password-looking text before it leaves the node.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  FIXTURE=$TOP/tests/fixtures/redaction.txt
  STUBS=$BATS_TEST_TMPDIR/bin
  mkdir -p "$STUBS"
}

# A command on PATH that prints the fixture's sample lines (what ps and the processlist would show).
stub() {
  printf '#!/bin/sh\ngrep -v "^#" %s | cut -f2-\n' "$FIXTURE" > "$STUBS/$1"
  chmod +x "$STUBS/$1"
}

@test "full: passwords in the processlist and in ps args are masked, other lines kept" {
  stub mariadb
  stub ps
  PATH=$STUBS:$PATH run "$TOP/scripts/bin/drcontext" full
  [ "$status" -eq 0 ]
  [[ $output == *"== database connections and running SQL"* ]]
  [[ $output != *S3CRET* ]]
  [[ $output == *"IDENTIFIED BY '******'"* ]]
  [[ $output == *"MASTER_PASSWORD=******"* ]]
  [[ $output == *"mysql -uroot -p****** -e"* ]]
  local line
  while IFS=$'\t' read -r kind line; do
    [[ $kind == keep ]] || continue
    [[ $output == *"$line"* ]] || { echo "changed: $line"; return 1; }
  done < "$FIXTURE"
}

@test "full: the step log's error lines are masked too" {
  printf 'ERROR 1045: login failed, mysql -psecretvalue -e x\n' > "$BATS_TEST_TMPDIR/step.log"
  run "$TOP/scripts/bin/drcontext" full "$BATS_TEST_TMPDIR/step.log"
  [[ $output == *"mysql -p******"* ]]
  [[ $output != *secretvalue* ]]
}
