#!/usr/bin/env bash
# Summary: package distribution over a WAN (issue 19 item 2): a package of SIZE_MB MB, the lab's
# WAN between the control node and the site (tests/lab/lab.sh fault wan), relay distribution
# against direct upload for each node count. Measured per run: the control node's egress (tx
# bytes of the lab bridge device, which only the host's own traffic to the site passes) during
# the package distribution and during the whole run, the distribution's wall time (the slowest
# node's upload_package step: every node's step starts at once) and the whole run's wall time.
# Writes the "WAN" section of docs/benchmarks.md from every result in RESULTS (so node counts
# measured by separate calls end up in one table).
# Usage: bench/wan.sh [NODE_COUNTS] [MODES] [SIZE_MB] [FROM] [TO]
#   defaults: "3 10" "relay direct" 200 2.1.0 2.2.0
# Environment: WAN (default "20mbit 0.005": rate and loss each way; the lab has no delay, this
#   kernel has no sch_netem), LAB_NAME / LAB_SUBNET / LAB_DIR as for tests/lab/lab.sh (systemd
#   nodes), RESULTS (default $LAB_DIR/bench-wan.jsonl; delete it to start a new table).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
COUNTS=${1:-3 10} MODES=${2:-relay direct} SIZE_MB=${3:-200} FROM=${4:-2.1.0} TO=${5:-2.2.0}
WAN=${WAN:-20mbit 0.005}
LAB_NAME=${LAB_NAME:-drl}
if [[ $LAB_NAME == drl ]]; then LAB_DIR=${LAB_DIR:-build/lab}; else LAB_DIR=${LAB_DIR:-build/lab-$LAB_NAME}; fi
export LAB_NAME LAB_DIR
RESULTS=${RESULTS:-$LAB_DIR/bench-wan.jsonl}
work=$(mktemp -d)
sampler=
cleanup() {
  if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null || true; fi
  tests/lab/lab.sh fault wan-clear >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '[%s] [bench/wan] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
logged() {
  local file=$1
  shift
  "$@" >"$file" 2>&1 || { log "failed: $*"; tail -n 30 "$file" >&2; return 1; }
}

#######################################
# The package TO padded to SIZE_MB MB of random data (in its MANIFEST.sha256 too, so the node's
# unzip accepts it), signed with the lab's test key, in a repo beside the other packages.
#######################################
make_package() {
  local repo=$work/packages name=drp-$TO
  mkdir -p "$repo" "$work/pkg"
  cp build/packages/* "$repo/"
  tar -C "$work/pkg" -xzf "build/packages/$name.tar.gz"
  head -c "${SIZE_MB}M" /dev/urandom >"$work/pkg/$name/share/bench-pad.bin"
  # (written beside, then moved in: a redirect into the tree would race find into listing itself)
  (cd "$work/pkg/$name" && rm -f MANIFEST.sha256 &&
    find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum >"$work/MANIFEST.sha256" &&
    mv "$work/MANIFEST.sha256" MANIFEST.sha256)
  tar -C "$work/pkg" -cf - "$name" | gzip -1 >"$repo/$name.tar.gz"
  (cd "$repo" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
  rm -f "$repo/$name.tar.gz.sig"
  packaging/sign.sh packaging/drp/test-keys/drp-TEST-ONLY-ed25519.key "$repo/$name.tar.gz" >/dev/null 2>&1
  rm -rf "$work/pkg"
  log "package $(du -m "$repo/$name.tar.gz" | cut -f1) MB: $repo/$name.tar.gz"
}

#######################################
# One measured run: COUNT nodes at FROM, the WAN on, `upgrade.sh run --to TO` with MODE.
#######################################
measure() {
  local count=$1 mode=$2 state=$work/state-$1-$2 t0 t1 n rc=0
  log "$count nodes, $mode: installing drp $FROM (no WAN)"
  tests/lab/lab.sh fault wan-clear >/dev/null
  logged "$work/install.log" tests/lab/install.sh "$FROM"
  for n in $(seq "$count"); do  # nothing left of an earlier run's package
    ssh -F "$LAB_DIR/ssh_config" "node$n" "rm -f /var/lib/drupgrade/packages/drp-$TO.tar.gz*" &
  done
  wait
  sed -e "s|^state_dir = .*|state_dir = $state|" -e "s|^repo = .*|repo = $work/packages|" \
    "$LAB_DIR/upgrade.ini" >"$work/upgrade.ini"
  printf '\n[transfer]\ndistribution = %s\n' "$mode" >>"$work/upgrade.ini"
  chmod 600 "$work/upgrade.ini"
  # shellcheck disable=SC2086 # WAN is "RATE [LOSS]", two words on purpose
  tests/lab/lab.sh fault wan $WAN >/dev/null
  (while :; do echo "$(date +%s.%N) $(cat "/sys/class/net/$LAB_NAME-br/statistics/tx_bytes")"; sleep 0.5; done) \
    >"$work/tx.txt" &
  sampler=$!
  log "$count nodes, $mode: upgrade.sh run --to $TO over the WAN ($WAN)"
  t0=$(date +%s.%N)
  bin/upgrade.sh --config "$work/upgrade.ini" --lang en --yes --plain run --to "$TO" >"$work/run.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  sampler=
  tests/lab/lab.sh fault wan-clear >/dev/null
  if ((rc != 0)); then
    log "the run failed (exit $rc)"
    tail -n 30 "$work/run.log" >&2
    return 1
  fi
  python3 - "$state" "$work/tx.txt" "$t0" "$t1" "$count" "$mode" "$work/packages/drp-$TO.tar.gz" \
    "$(grep -c 'relayed by' "$work/run.log" || true)" "$(grep -c 'uploaded directly from the controller' \
    "$work/run.log" || true)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS" <<'PY'
import calendar, glob, json, os, sys, time
state, tx, t0, t1, count, mode, pkg, relayed, fallbacks, load = sys.argv[1:]
j = json.load(open(glob.glob(os.path.join(state, "runs", "*", "journal.json"))[0]))
up = [r for k, r in j["results"].items() if "/upload_package/" in k]
sec = lambda iso: calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
start, end = min(sec(r["started"]) for r in up), max(sec(r["ended"]) for r in up) + 1
samples = [tuple(map(float, ln.split())) for ln in open(tx) if len(ln.split()) == 2]
def at(t):  # tx bytes at time t (the last sample before it)
    before = [b for s, b in samples if s <= t]
    return before[-1] if before else samples[0][1]
size = os.path.getsize(pkg)
print(json.dumps({"nodes": int(count), "mode": mode, "package": size, "dist_s": max(r["elapsed"] for r in up),
                  "dist_egress": at(end) - at(start - 1), "run_s": float(t1) - float(t0),
                  "run_egress": samples[-1][1] - samples[0][1], "relayed": int(relayed),
                  "fallbacks": int(fallbacks), "load": float(load),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
PY
  tail -n 1 "$RESULTS" >&2
}

bin/upgrade.sh --help >/dev/null  # the controller's venv exists
make_package
for count in $COUNTS; do
  logged "$work/up.log" tests/lab/lab.sh up --nodes "$count"
  for mode in $MODES; do measure "$count" "$mode"; done
done

PYTHONPATH=bench python3 - "$RESULTS" "$WAN" <<'PY'
import json, sys
from benchmd import write_section
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
wan = sys.argv[2].split()
mb = lambda b: b / 1e6
lines = ["## WAN",
         "Command: `bench/wan.sh \"3 10\" \"relay direct\" 200` (systemd lab nodes; the WAN: `tests/lab/lab.sh "
         "fault wan %s` = %s each way%s between the control node and the site, node<->node at full speed; "
         "no delay: this kernel has no sch_netem; a shared 2-core machine)." % (
             " ".join(wan), wan[0], ", random loss %s each way" % wan[1] if len(wan) > 1 else ""), "",
         "Egress: bytes the control node sent to the site (tx of the lab bridge device), during the package "
         "distribution (the upload_package steps) and during the whole run (tool upload, precheck, backup, "
         "upgrade, postcheck included). *dist.* = the slowest node's upload_package step (all start at once).", "",
         "| nodes | distribution | package (MB) | dist. egress (MB) | egress / package | dist. wall (s) | "
         "run egress (MB) | run wall (s) | relayed / direct fallbacks | load avg | date |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
opt = lambda v, f: "-" if v is None else f % v
notes = []
for r in sorted(rows, key=lambda r: (r["nodes"], r["mode"] != "relay", r["date"])):
    if r.get("note"):
        notes.append("(%d) %d nodes, %s: %s." % (len(notes) + 1, r["nodes"], r["mode"], r["note"]))
    lines.append("| %d | %s%s | %.0f | %.0f | %.2fx | %.0f | %s | %s | %d / %d | %.2f | %s |" % (
        r["nodes"], r["mode"], " (%d)" % len(notes) if r.get("note") else "", mb(r["package"]),
        mb(r["dist_egress"]), r["dist_egress"] / r["package"], r["dist_s"],
        opt(r["run_egress"] and mb(r["run_egress"]), "%.0f"), opt(r["run_s"], "%.0f"), r["relayed"],
        r["fallbacks"], r["load"], r["date"]))
lines += [""] + notes if notes else []
lines += ["", "Target: egress 1x the package for N nodes (relay). *relayed* counts the nodes the relay "
          "served (the first node gets the package from the control node itself)."]
write_section("## WAN", "\n".join(lines) + "\n")
PY
