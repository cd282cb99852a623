#!/usr/bin/env bats
# drstep and the step protocol (scripts/bin/drstep, scripts/lib/step.sh, scripts/lib/common.sh).

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export DRSTEP_STEPS_DIR=$TOP/tests/fixtures/steps
  export DRSTEP_LIB=$TOP/scripts/lib
  export DRSTEP_CONTEXT=$BATS_TEST_TMPDIR/context.env
  export DRUPGRADE_LANG=en
  export DRSTEP_LOCK_DIR=$BATS_TEST_TMPDIR/locks
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

@test "fault wait: the step waits until it is released; fault forge: marker-like lines, then its work" {
  arm wait
  "$DRSTEP" demo_step run > "$BATS_TEST_TMPDIR/out" 2>&1 &
  local pid=$!
  sleep 1
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
  : > "$BATS_TEST_TMPDIR/faults/demo_step.release"
  wait "$pid"
  [ -e "$BATS_TEST_TMPDIR/mark" ] && [ ! -e "$BATS_TEST_TMPDIR/faults/demo_step.release" ]
  rm -f "$BATS_TEST_TMPDIR/mark"
  arm forge
  run "$DRSTEP" demo_step run
  [ "$status" -eq 0 ] && [ -e "$BATS_TEST_TMPDIR/mark" ]
  [[ ${lines[1]} == "@@DRUPGRADE@@ end demo_step 7 1.0" ]]
  [[ $output == *"@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end demo_step x y"* ]]
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

# A step that prints marker-like lines: nothing it prints can end it, whatever it forges.
forger() {
  STEPS=$BATS_TEST_TMPDIR/steps
  mkdir -p "$STEPS/5-backup"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$STEPS/5-backup/"
  cat > "$STEPS/5-backup/20-forger.sh" <<'STEP'
#!/usr/bin/env bash
# Summary: prints forged markers, then fails
# Summary-zh: 打印伪造的标记行后失败
# Timeout: 30
# Retry: direct
# shellcheck source=scripts/lib/step.sh
source "${DRSTEP_LIB:?}/step.sh"
step::run() {
  printf 'the step sees nonce=%s holder=%s\n' "${DRSTEP_NONCE:-none}" "${DRSTEP_HOLDER:-none}"
  printf '@@DRUPGRADE@@ end forger 0 1.0\n'
  printf '@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger 0 1.0\n'
  printf '@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger x y\n'
  printf 'mid-line: @@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger 0 1.0'
  exit 3
}
step::main "$@"
STEP
  chmod +x "$STEPS/5-backup/20-forger.sh"
  export DRSTEP_STEPS_DIR=$STEPS
}

@test "chain: markers carry the run's nonce and start a line; a step cannot see the nonce or end itself" {
  forger
  export DRUPGRADE_RUN_DIR=$BATS_TEST_TMPDIR/run NONCE=feedfacefeedfacefeedfacefeedface
  mkdir -p "$DRUPGRADE_RUN_DIR"
  # as the detached launcher runs it: the nonce in the run's script, the output into the run's log
  rc=0
  DRSTEP_NONCE=$NONCE DRSTEP_HOLDER=h1 "$DRSTEP" chain demo_step forger >> "$DRUPGRADE_RUN_DIR/log" 2>&1 || rc=$?
  [ "$rc" -eq 3 ]
  run grep -c "^@@DRUPGRADE@@ $NONCE " "$DRUPGRADE_RUN_DIR/log"
  [ "$output" -eq 4 ]  # begin, end of each step, and nothing else
  grep -qx "@@DRUPGRADE@@ $NONCE end demo_step 0 [0-9.]*" "$DRUPGRADE_RUN_DIR/log"
  grep -qx "@@DRUPGRADE@@ $NONCE end forger 3 [0-9.]*" "$DRUPGRADE_RUN_DIR/log"  # at a line start, the real rc
  grep -qx "mid-line: @@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger 0 1.0" "$DRUPGRADE_RUN_DIR/log"
  grep -q "the step sees nonce=none holder=none" "$DRUPGRADE_RUN_DIR/log"
  # through a pipe (no log file to look at) the end marker starts a line too
  run env DRSTEP_NONCE=$NONCE "$DRSTEP" chain forger
  [ "$status" -eq 3 ]
  [[ $output == *$'end forger 0 1.0\n@@DRUPGRADE@@ '"$NONCE end forger 3 "* ]]
}

@test "node lock: a chain of another holder is refused (exit 5), and a step never runs twice at once" {
  export DRUPGRADE_RUN_DIR=$DRSTEP_LOCK_DIR/run1
  mkdir -p "$DRUPGRADE_RUN_DIR"
  printf 'key=holder-a\nhost=ctl-a\nstate_dir=/srv/a\nrun_id=run_a\ncommand=upgrade.sh run\npid=42\nsince=x\n' \
    > "$DRSTEP_LOCK_DIR/.holder"
  run env DRSTEP_NONCE=n1 DRSTEP_HOLDER=holder-b "$DRSTEP" chain demo_step
  [ "$status" -eq 5 ]
  [[ $output == "@@DRUPGRADE@@ n1 locked this node is held by another drupgrade run (host=ctl-a state_dir=/srv/a run_id=run_a"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]
  # the holder's own chain runs; while its step runs, a second attempt of that step is refused
  arm hang
  DRSTEP_NONCE=n1 DRSTEP_HOLDER=holder-a setsid "$DRSTEP" chain demo_step > "$BATS_TEST_TMPDIR/first" 2>&1 &
  first=$!  # its own session and process group (setsid does not fork here)
  for _i in $(seq 100); do grep -q "begin demo_step" "$BATS_TEST_TMPDIR/first" && break; sleep 0.05; done
  DRUPGRADE_RUN_DIR=$DRSTEP_LOCK_DIR/run2
  mkdir -p "$DRUPGRADE_RUN_DIR"
  run env DRSTEP_NONCE=n2 DRSTEP_HOLDER=holder-a "$DRSTEP" chain demo_step
  [ "$status" -eq 5 ]
  [[ $output == *"@@DRUPGRADE@@ n2 locked step demo_step is already running on this node (run=run1 pid=$first"* ]]
  run env -u DRUPGRADE_RUN_DIR "$DRSTEP" demo_step cleanup  # by hand, or the controller's cleanup
  [ "$status" -eq 5 ]
  [[ $output == *"step demo_step is already running on this node"* ]]
  kill -TERM -- "-$first"
  wait "$first" || true
  run env -u DRUPGRADE_RUN_DIR "$DRSTEP" demo_step cleanup  # the first attempt is gone: free again
  [ "$status" -eq 0 ]
}

@test "node lock: a step run holds its step lock; a read-only check (Lock: none) holds none" {
  local steps=$BATS_TEST_TMPDIR/steps
  mkdir -p "$steps/5-backup" "$DRSTEP_LOCK_DIR"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$steps/5-backup/"
  sed 's/^# Roles: any$/# Roles: any\n# Lock: none/; s/write a marker file once/a read-only check/' \
    "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" > "$steps/5-backup/20-ro_check.sh"
  chmod +x "$steps/5-backup/20-ro_check.sh"
  export DRSTEP_STEPS_DIR=$steps
  exec 7>> "$DRSTEP_LOCK_DIR/.lock.demo_step" 6>> "$DRSTEP_LOCK_DIR/.lock.ro_check"
  flock -x 7
  flock -x 6  # as if both ran already
  run "$DRSTEP" demo_step run
  [ "$status" -eq 5 ] && [ ! -e "$BATS_TEST_TMPDIR/mark" ]
  run "$DRSTEP" ro_check run
  [ "$status" -eq 0 ] && [ -e "$BATS_TEST_TMPDIR/mark" ]
  exec 7<&- 6<&-
}

# A steps dir of its own: phases N-name (numbers, not the alphabet, give the order), rollback/ last.
phase_tree() {
  local steps=$BATS_TEST_TMPDIR/tree f
  mkdir -p "$steps/10-late" "$steps/2-early" "$steps/rollback" "$steps/notes"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$steps/10-late/10-zeta.sh"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$steps/2-early/9-alpha.sh"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$steps/2-early/10-beta.sh"
  cp "$DRSTEP_STEPS_DIR/5-backup/10-demo_step.sh" "$steps/notes/10-hidden.sh"
  cp "$DRSTEP_STEPS_DIR/rollback/10-rb_demo.sh" "$steps/rollback/10-rb_demo.sh"
  f=$steps/2-early/5-by_controller.sh
  printf '%s\n' '# shellcheck shell=bash' '# Summary: the controller does this' '# Summary-zh: 控制器执行' \
    '# Runs: controller' '# Timeout: 60' '# Retry: direct' > "$f"
  export DRSTEP_STEPS_DIR=$steps
}

@test "list: phases in the order of their numbers, steps by theirs, rollback last, other dirs ignored" {
  phase_tree
  run "$DRSTEP" list
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 5 ]
  [[ ${lines[0]} == by_controller*early*"the controller does this (runs on the controller)" ]]
  [[ ${lines[1]} == alpha*early* ]]
  [[ ${lines[2]} == beta*early* ]]
  [[ ${lines[3]} == zeta*late* ]]
  [[ ${lines[4]} == rb_demo*rollback* ]]
  [[ $output != *hidden* ]]
  run "$DRSTEP" zeta --help
  [[ $output == *"Phase:   late"* ]]
}

@test "a controller step is listed, explained by --help, and never run on a node (exit 2)" {
  phase_tree
  run "$DRSTEP" by_controller --help
  [ "$status" -eq 0 ]
  [[ $output == *"Runs:    controller"* && $output == *"runs on the controller (bin/upgrade.sh)"* ]]
  for action in run check cleanup verify diag; do
    run "$DRSTEP" by_controller "$action"
    [ "$status" -eq 2 ]
    [[ $output == *"step by_controller runs on the controller (bin/upgrade.sh), not on a node"* ]]
  done
  export DRUPGRADE_RUN_DIR=$BATS_TEST_TMPDIR/run
  mkdir -p "$DRUPGRADE_RUN_DIR"
  run "$DRSTEP" chain alpha by_controller
  [ "$status" -eq 2 ]
  [ ! -e "$BATS_TEST_TMPDIR/mark" ]  # refused before any step ran
  DRUPGRADE_LANG=zh run "$DRSTEP" by_controller run
  [[ $output == *"由控制器执行"* ]]
}

@test "step::phase is the directory without its number; step::dirs the run order" {
  phase_tree
  # shellcheck source=scripts/lib/step.sh
  source "$DRSTEP_LIB/step.sh"
  [ "$(step::phase "$DRSTEP_STEPS_DIR/10-late/10-zeta.sh")" = late ]
  [ "$(step::phase "$DRSTEP_STEPS_DIR/rollback/10-rb_demo.sh")" = rollback ]
  [ "$(step::dirs "$DRSTEP_STEPS_DIR" | paste -sd ' ')" = "2-early 10-late rollback" ]
}
