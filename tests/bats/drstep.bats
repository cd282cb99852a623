#!/usr/bin/env bats
# drstep and the step protocol (scripts/bin/drstep, scripts/lib/step.sh, scripts/lib/common.sh).

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export DRSTEP_STEPS_DIR=$TOP/tests/fixtures/steps
  export DRSTEP_LIB=$TOP/scripts/lib
  export DRSTEP_CONTEXT=$BATS_TEST_TMPDIR/context.env
  export DRUPGRADE_LANG=en
  printf 'DR_MARK=%s\n' "$BATS_TEST_TMPDIR/mark" > "$DRSTEP_CONTEXT"
  DRSTEP=$TOP/scripts/bin/drstep
}

@test "list shows steps in phase order with phase, timeout and summary" {
  run "$DRSTEP" list
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == fails*init*5s*"always fails in a function" ]]
  [[ ${lines[1]} == demo_step*backup*30s*"write a marker file once" ]]
}

@test "list speaks Chinese with DRUPGRADE_LANG=zh" {
  DRUPGRADE_LANG=zh run "$DRSTEP" list
  [[ $output == *"写入一次标记文件"* ]]
}

@test "run uses the context file, and check tells done from not done" {
  run "$DRSTEP" demo_step check
  [ "$status" -ne 0 ]
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ]
  run "$DRSTEP" demo_step check
  [ "$status" -eq 0 ]
  run "$DRSTEP" demo_step run
  [ "$(cat "$BATS_TEST_TMPDIR/mark")" = "ran" ]
}

@test "context lines that are not DR_* or look like code are not executed" {
  printf 'DR_MARK=%s\nPATH=/nonexistent\nDR_X=$(touch %s/pwned)\n' \
    "$BATS_TEST_TMPDIR/mark" "$BATS_TEST_TMPDIR" > "$DRSTEP_CONTEXT"
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
}

@test "--help prints the header" {
  run "$DRSTEP" demo_step --help
  [ "$status" -eq 0 ]
  [[ $output == *"Phase:"*backup* ]]
  [[ $output == *"Retry:"*direct* ]]
}

@test "a failing step exits non-zero with a stack trace naming the function" {
  run "$DRSTEP" fails run
  [ "$status" -ne 0 ]
  [[ $output == *"command failed"* ]]
  [[ $output == *"at inner"* ]]
}

@test "an unknown step is exit 2 with the way out" {
  run "$DRSTEP" nosuch run
  [ "$status" -eq 2 ]
  [[ $output == *"drstep list"* ]]
}

@test "an unknown action is exit 2 with usage" {
  run "$DRSTEP" demo_step explode
  [ "$status" -eq 2 ]
}

arm() {
  mkdir -p "$BATS_TEST_TMPDIR/faults"
  echo "$1" > "$BATS_TEST_TMPDIR/faults/demo_step"
  printf 'DR_MARK=%s\nDR_FAULT_DIR=%s\nDR_FAULT_INJECTION=%s\n' "$BATS_TEST_TMPDIR/mark" \
    "$BATS_TEST_TMPDIR/faults" "${2:-on}" > "$DRSTEP_CONTEXT"
}

@test "fault fail: the step fails once before its work, then runs" {
  arm fail
  run "$DRSTEP" demo_step run
  [ "$status" -eq 1 ]
  [[ $output == *"fault injection"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
  [ ! -e "$BATS_TEST_TMPDIR/faults/demo_step" ]
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ]
  [ -e "$BATS_TEST_TMPDIR/mark" ]
}

@test "fault crash: killed at its halfway point, the work half done" {
  arm crash
  run "$DRSTEP" demo_step run
  [ "$status" -eq 137 ]
  [ -e "$BATS_TEST_TMPDIR/mark.half" ]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
}

@test "fault hang: the step does not finish within a timeout" {
  arm hang
  run timeout 2 "$DRSTEP" demo_step run
  [ "$status" -eq 124 ]
}

@test "faults are ignored unless injection is on" {
  arm fail off
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ]
  [ -e "$BATS_TEST_TMPDIR/faults/demo_step" ]
}

@test "fault with a count: fires that many runs, then the step runs" {
  arm "fail 2"
  run "$DRSTEP" demo_step run
  [ "$status" -eq 1 ]
  [ "$(cat "$BATS_TEST_TMPDIR/faults/demo_step")" = "fail 1" ]
  run "$DRSTEP" demo_step run
  [ "$status" -eq 1 ]
  [ ! -e "$BATS_TEST_TMPDIR/faults/demo_step" ]
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ]
}

@test "chain: steps in order between marker lines, stopping at the first failure" {
  run "$DRSTEP" chain demo_step fails
  [ "$status" -ne 0 ]
  [[ ${lines[0]} =~ ^@@DRUPGRADE@@\ begin\ demo_step\ [0-9]+\.[0-9]+$ ]]
  [[ $output =~ @@DRUPGRADE@@\ end\ demo_step\ 0\ [0-9.]+ ]]
  [[ $output =~ @@DRUPGRADE@@\ end\ fails\ [1-9][0-9]*\ [0-9.]+ ]]
  [ -e "$BATS_TEST_TMPDIR/mark" ]
  run "$DRSTEP" chain fails demo_step
  [[ $output != *"begin demo_step"* ]]
}

@test "chain: an unknown step is refused before anything runs (exit 2)" {
  run "$DRSTEP" chain demo_step nosuch
  [ "$status" -eq 2 ]
  [[ $output != *"begin"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
}

@test "chain: a +gated step waits until its gate opens, then runs" {
  export DRUPGRADE_RUN_DIR=$BATS_TEST_TMPDIR/run
  mkdir -p "$DRUPGRADE_RUN_DIR"
  "$DRSTEP" chain +demo_step > "$BATS_TEST_TMPDIR/out" 2>&1 &
  local pid=$!
  sleep 1.5  # past one slow poll: still waiting, nothing ran
  [[ $(cat "$BATS_TEST_TMPDIR/out") =~ ^@@DRUPGRADE@@\ gate\ demo_step\ [0-9.]+$ ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
  [ -p "$DRUPGRADE_RUN_DIR/gate" ]
  : > "$DRUPGRADE_RUN_DIR/go.demo_step"
  echo demo_step 1<> "$DRUPGRADE_RUN_DIR/gate"  # the wake-up the controller sends
  wait "$pid"
  grep -q "end demo_step 0" "$BATS_TEST_TMPDIR/out"
  [ -e "$BATS_TEST_TMPDIR/mark" ]
}

@test "chain: the stop file ends the chain before its next step (exit 75)" {
  export DRUPGRADE_RUN_DIR=$BATS_TEST_TMPDIR/run
  mkdir -p "$DRUPGRADE_RUN_DIR"
  : > "$DRUPGRADE_RUN_DIR/stop"
  run "$DRSTEP" chain +demo_step
  [ "$status" -eq 75 ]
  [[ $output == *"@@DRUPGRADE@@ stopped demo_step"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
}

@test "chain: a gated step outside a controller's run is refused (exit 2), and a gate nobody opens gives up" {
  run env -u DRUPGRADE_RUN_DIR "$DRSTEP" chain demo_step +fails
  [ "$status" -eq 2 ]
  [[ $output == *"runs only in a run the controller started"* ]]
  export DRUPGRADE_RUN_DIR=$BATS_TEST_TMPDIR/run
  mkdir -p "$DRUPGRADE_RUN_DIR"
  DRSTEP_GATE_MAX=1 run "$DRSTEP" chain +demo_step
  [ "$status" -eq 75 ]
  [[ $output == *"gave up waiting for the controller at gate demo_step"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
}
