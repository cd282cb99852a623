#!/usr/bin/env bash
# Summary: one-click rollback (issue 7): its wall time against its slowest part, and the program
# directory restore for a small and a large program directory. Writes the "Rollback" section of
# docs/benchmarks.md.
# Usage: bench/rollback.sh [FROM] [TO] [SIZES_MB]     (default: 2.1.0 2.2.0 "10 1024")
#   For each size: a fresh drp FROM whose release dir is padded to SIZE MB (random data, so the
#   backup really archives it), an upgrade to TO, then `rollback_tool --yes auto latest`. Times of
#   the node scripts come from the detached runs' own pid -> rc file times on the nodes. Then the
#   archive fallback: the kept release is deleted and step 3 is run again by hand (drstep), which
#   has to extract it from the backup.
#   With DATA_MB=N the product database holds N MB of extra rows too (1 KiB rows on the primary,
#   replicated; dumped by the backup, restored by step 2), closer to a production cluster, and the
#   section written is "Rollback with data".
# Environment: LAB_NAME / LAB_SUBNET / LAB_DIR choose the lab, as for tests/lab/lab.sh.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
FROM=${1:-2.1.0} TO=${2:-2.2.0} SIZES=${3:-10 1024}
DATA_MB=${DATA_MB:-0}
LAB_NAME=${LAB_NAME:-drl}
if [[ $LAB_NAME == drl ]]; then LAB_DIR=${LAB_DIR:-build/lab}; else LAB_DIR=${LAB_DIR:-build/lab-$LAB_NAME}; fi
export LAB_NAME LAB_DIR
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
NODES=(node1 node2 node3)

log() { printf '[%s] [bench/rollback] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

#######################################
# Run a command with its output in LOG; on failure show the log's end and fail.
# Arguments: log file, command...
#######################################
logged() {
  local file=$1
  shift
  "$@" > "$file" 2>&1 || { log "failed: $*"; tail -n 30 "$file" >&2; return 1; }
}
on() { ssh -F "$LAB_DIR/ssh_config" "$@"; }

#######################################
# Script times of a run's steps on every node: "node run_key seconds" lines.
# Arguments: run id (the rollback id)
#######################################
script_times() {
  local n
  for n in "${NODES[@]}"; do
    on "$n" "cd /var/lib/drupgrade/runs && for d in $1.*; do [ -f \$d/rc ] && echo $n \$d \$(stat -c %.6Y \$d/pid) \$(stat -c %.6Y \$d/rc); done; true"
  done
}

#######################################
# One measured rollback with the program directory padded to SIZE MB; appends a JSON line.
#######################################
measure() {
  local size=$1 t0 t1 run_id n x0 x1 s0 s1 skip load
  local state=$work/state-$size
  log "drp $FROM with a ${size} MB program directory"
  logged "$work/install.log" tests/lab/install.sh "$FROM"
  for n in "${NODES[@]}"; do
    on "$n" "d=/opt/drp-releases/$FROM; have=\$(du -sm \$d | cut -f1); pad=\$(( $size - have )); \
      if [ \$pad -gt 0 ]; then head -c \${pad}M /dev/urandom > \$d/share/bench-pad.bin; fi; du -sm \$d" >&2 &
  done
  wait
  if ((DATA_MB > 0)); then
    log "${DATA_MB} MB of rows in the product database"
    on node1 "mysql drp -e 'DROP TABLE IF EXISTS bench_payload; CREATE TABLE bench_payload (id INT PRIMARY KEY,
      data TEXT) ENGINE=InnoDB; INSERT INTO bench_payload SELECT seq, REPEAT(SHA2(seq, 256), 16)
      FROM seq_1_to_$((DATA_MB * 1024))'"
  fi
  sed "s|^state_dir = .*|state_dir = $state|" "$LAB_DIR/upgrade.ini" > "$work/upgrade.ini"
  chmod 600 "$work/upgrade.ini"
  log "upgrade $FROM -> $TO (the backup archives the padded program directory)"
  logged "$work/upgrade-$size.log" bin/upgrade.sh --config "$work/upgrade.ini" --lang en run --to "$TO"
  log "rollback_tool --yes auto latest"
  skip=$(wc -l < "$state/logs/controller.log")  # the upgrade's lines
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  logged "$work/rollback-$size.log" bin/rollback_tool --config "$work/upgrade.ini" --lang en --yes auto latest
  t1=$(date +%s.%N)
  run_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rollback_id"])' "$state/current_rollback.json")
  script_times "$run_id" > "$work/times-$size.txt"
  # The archive fallback: the kept release is gone, step 3 extracts it from the backup.
  for n in "${NODES[@]}"; do logged "$work/stop-$n.log" on "$n" /opt/drupgrade/bin/drstep rollback_stop run; done
  s0=$(date +%s.%N)
  logged "$work/switch-$size.log" on node1 /opt/drupgrade/bin/drstep rollback_program run
  s1=$(date +%s.%N)
  grep -q "intact: switching to it" "$work/switch-$size.log"
  on node1 "rm -rf /opt/drp-releases/$FROM"
  x0=$(date +%s.%N)
  logged "$work/extract-$size.log" on node1 /opt/drupgrade/bin/drstep rollback_program run
  x1=$(date +%s.%N)
  for n in "${NODES[@]}"; do logged "$work/start-$n.log" on "$n" /opt/drupgrade/bin/drstep rollback_start run & done
  wait
  grep -q "extracting it from the backup" "$work/extract-$size.log"
  python3 - "$state" "$run_id" "$work/times-$size.txt" "$t0" "$t1" "$x0" "$x1" "$size" "$s0" "$s1" "$skip" "$load" >> "$work/results.jsonl" <<'PY'
import collections, json, os, sys
state, run_id, times, t0, t1, x0, x1, size, s0, s1, skip, load = sys.argv[1:]
j = json.load(open(os.path.join(state, "rollbacks", run_id, "journal.json")))
script = collections.defaultdict(dict)  # step -> node -> seconds
for line in open(times):
    node, run_key, a, b = line.split()
    step = run_key.split(".")[-2]
    script[step][node] = float(b) - float(a)
steps = {int(k): v["elapsed"] for k, v in j["steps"].items()}
db = sum(script["rollback_db"].values())  # primary, then the replica (waves)
parts = {"database": db, "program": max(script["rollback_program"].values()),
         "config": max(script["rollback_config"].values())}
slowest = max(parts, key=parts.get)
group = max(steps[2], steps[3], steps[4])
critical = max(script["rollback_stop"].values()) + parts[slowest] + max(script["rollback_start"].values()) + \
    max(script["rollback_verify"].values())
phases = {}  # the rollback's own timing lines in controller.log (the last of each name: the rollback's)
for line in open(os.path.join(state, "logs", "controller.log"), encoding="utf-8", errors="replace").readlines()[
        int(skip):]:
    if "] timing: " in line:
        what, _sp, secs = line.split("] timing: ", 1)[1].rstrip().rpartition(" ")[0].rpartition(" ")
        phases[what] = float(secs)
print(json.dumps({"phases": phases, "load": float(load), "size": int(size), "wall": float(t1) - float(t0), "steps_wall": sum(steps.values()) - steps[2] -
                  steps[3] - steps[4] + group, "group": group, "parts": parts, "slowest": slowest,
                  "critical": critical, "program_restore": parts["program"],
                  "switch": float(s1) - float(s0), "extract": float(x1) - float(x0)}))
PY
}

tests/lab/lab.sh up --nodes 3 > /dev/null
: > "$work/results.jsonl"
for size in $SIZES; do measure "$size"; done
tests/lab/install.sh "$FROM" > /dev/null 2>&1  # leave the lab without the padding

PYTHONPATH=bench python3 - "$work/results.jsonl" "$FROM" "$TO" "$SIZES" "$DATA_MB" <<'PY'
import json, os, sys, time
from benchmd import write_section
rows = [json.loads(line) for line in open(sys.argv[1])]
src, dst, sizes, data_mb = sys.argv[2:]
title = "## Rollback" + (" with data" if data_mb != "0" else "")
lines = [title,
         "Command: `%sbench/rollback.sh %s %s \"%s\"` (3-node lab%s; %s; load average when each rollback "
         "started: %s)." % (
             "DATA_MB=%s " % data_mb if data_mb != "0" else "", src, dst, sizes,
             ", %s MB of extra rows in the product database" % data_mb if data_mb != "0" else "",
             time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             ", ".join("%.1f" % r.get("load", 0) for r in rows)), "",
         "One-click rollback (`rollback_tool --yes auto latest`) after an upgrade %s -> %s. The parallel "
         "restore (steps 2-4: database, program directory, config) against its slowest part, and the six "
         "steps against the critical path of the node scripts (step 1 + slowest part + step 5 + step 6)." % (
             src, dst), "",
         "| program dir | command wall (s) | command / slowest | six steps (s) | critical path (s) | six steps / "
         "critical | steps 2-4 wall (s) | slowest part (s) | steps 2-4 / slowest | DB / program / config restore (s) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    p = r["parts"]
    lines.append("| %d MB | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.1f | %s %.1f | %.2fx | %.1f / %.2f / %.1f |" % (
        r["size"], r["wall"], r["wall"] / p[r["slowest"]], r["steps_wall"], r["critical"],
        r["steps_wall"] / r["critical"], r["group"], r["slowest"], p[r["slowest"]], r["group"] / p[r["slowest"]],
        p["database"], p["program"], p["config"]))
lines += ["", "Target (SPEC §7): the whole command <= 1.5x its slowest part. *command wall* adds to the six "
          "steps the controller's start, the node lock, the tool upload and the backup check on every node "
          "before step 1 (nothing is touched until every node's check passed), the session and its context, "
          "and at the end the node lock given back and the run report. Where it went, from the `timing:` "
          "lines of controller.log (s):", ""]
names = sorted({k for r in rows for k in r["phases"]}, key=lambda k: min(
    list(r["phases"]).index(k) for r in rows if k in r["phases"]))
lines += ["| program dir | start (until the lock) | " + " | ".join(names) + " |",
          "|---|---|" + "---|" * len(names)]
for r in rows:
    lines.append("| %d MB | %.1f | %s |" % (r["size"], r["wall"] - sum(r["phases"].values()), " | ".join(
        "%.2f" % r["phases"][k] if k in r["phases"] else "-" for k in names)))
lines += ["", "*start* = command wall - the phases: the controller's own start (bootstrap, imports, "
          "config) and what no phase covers.", "",
          "Program directory restore (step 3): during the one-click rollback (slowest node's script, "
          "beside the DB and config restores), then alone on node1 with the services stopped, each a "
          "`drstep rollback_program run` seen from the controller (ssh included): the link switch to the "
          "kept release, and the archive fallback (kept release deleted first):", "",
          "| program dir | in the rollback (s) | link switch alone (s) | extraction from the backup (s) |",
          "|---|---|---|---|"]
for r in rows:
    lines.append("| %d MB | %.2f | %.2f | %.1f |" % (r["size"], r["program_restore"], r["switch"], r["extract"]))
lines.append("")
section = "\n".join(lines) + "\n"
write_section(title + "\n", section)
PY
