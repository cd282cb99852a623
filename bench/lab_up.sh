#!/usr/bin/env bash
# lab_up.sh: measure lab start-up time and memory; write the "Lab" section of docs/benchmarks.md.
#
# Usage: bench/lab_up.sh [--runs N] [--no-write]
# Runs its own lab (LAB_NAME=dlbench, LAB_SUBNET=10.231.240, LAB_DIR=<repo>/build/lab-bench
# unless set), never the default lab. Cases: 3 nodes with systemd + sshd (no product
# installed) and 20 sshd-only scale nodes. Per case and run: wall time of a cold
# `lab.sh up` (fresh node disks: first boot with host-key generation), of a reboot of the
# same disks (`down --keep-state`, then `up`), of a no-op `up` on the running lab, and
# memory: the sum of VmRSS of every process in the nodes' cgroups, and the memory
# cgroups' usage (rss + page cache of the node overlays).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
LAB="$REPO/tests/lab/lab.sh"
export LAB_NAME="${LAB_NAME:-dlbench}"
export LAB_SUBNET="${LAB_SUBNET:-10.231.240}"
export LAB_DIR="${LAB_DIR:-$REPO/build/lab-bench}"
DOC="$REPO/docs/benchmarks.md"
BENCH_LOG="${TMPDIR:-/tmp}/lab_up_bench.$$.log"

log() {
  printf '[%s] [bench:lab_up] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Outputs "rss_mb pss_mb cgroup_mb" for the running lab.
measure_memory() {
  local rss_kb=0 pss_kb=0 cg_bytes=0 base node pid kb
  while read -r base; do
    for node in "$base"/node*; do
      [[ -d "$node" ]] || continue
      if [[ -f "$node/memory.usage_in_bytes" ]]; then
        cg_bytes=$((cg_bytes + $(cat "$node/memory.usage_in_bytes")))
      fi
      if [[ "$base" == */pids/* ]]; then
        while read -r pid; do
          kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
          rss_kb=$((rss_kb + ${kb:-0}))
          kb=$(awk '$1 == "Pss:" { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
          pss_kb=$((pss_kb + ${kb:-0}))
        done < <(find "$node" -name cgroup.procs -exec cat {} + 2>/dev/null)
      fi
    done
  done <"$LAB_DIR/cgroups"
  awk -v r="$rss_kb" -v p="$pss_kb" -v c="$cg_bytes" 'BEGIN { printf "%.0f %.0f %.0f", r / 1024, p / 1024, c / 1048576 }'
}

# Outputs one markdown table row per run.
bench_case() {
  local nodes="$1" flag="$2" label="$3" runs="$4" run t cold warm noop mem rss pss cg
  for ((run = 1; run <= runs; run++)); do
    "$LAB" down >>"$BENCH_LOG" 2>&1
    t=$(now)
    # shellcheck disable=SC2086 # flag is empty or one word
    "$LAB" up --nodes "$nodes" $flag >>"$BENCH_LOG" 2>&1 || die "lab up failed ($label); see $BENCH_LOG"
    cold=$(elapsed "$t")
    sleep 5 # let the nodes settle before measuring memory
    mem=$(measure_memory)
    t=$(now)
    "$LAB" up >>"$BENCH_LOG" 2>&1 || die "no-op lab up failed ($label)"
    noop=$(elapsed "$t")
    "$LAB" down --keep-state >>"$BENCH_LOG" 2>&1
    t=$(now)
    "$LAB" up >>"$BENCH_LOG" 2>&1 || die "lab reboot failed ($label)"
    warm=$(elapsed "$t")
    log "$label run $run: cold ${cold}s, reboot ${warm}s, no-op ${noop}s, memory (rss, pss, cgroup MB) $mem, load $(cut -d' ' -f1-3 /proc/loadavg)"
    read -r rss pss cg <<<"$mem"
    printf '| %s | %s | %s | %s | %s | %s | %s (%s/node) | %s (%s/node) | %s |\n' "$label" "$run" "$cold" "$warm" "$noop" \
      "$rss" "$pss" "$(awk -v r="$pss" -v n="$nodes" 'BEGIN { printf "%.1f", r / n }')" \
      "$cg" "$(awk -v r="$cg" -v n="$nodes" 'BEGIN { printf "%.1f", r / n }')" "$(cut -d' ' -f1 /proc/loadavg)"
  done
  "$LAB" down >>"$BENCH_LOG" 2>&1
}

write_section() {
  local body="$1" tmp
  mkdir -p "$(dirname "$DOC")"
  # shellcheck disable=SC2016 # backquotes are markdown
  [[ -f "$DOC" ]] || printf '# Benchmarks\n\nResults of `bench/`; each section names the command that produced it.\n' >"$DOC"
  tmp=$(mktemp "$DOC.XXXXXX")
  # Replace "## Lab" up to the next "## " heading (or append it); other sections stay.
  BODY="$body" awk '
    /^## Lab[[:space:]]*$/ { print ENVIRON["BODY"]; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) print "\n" ENVIRON["BODY"] }' "$DOC" >"$tmp"
  mv -f "$tmp" "$DOC"
}

main() {
  local runs=2 write=1 rows3 rows20 body
  while (($#)); do
    case "$1" in
      --runs) runs="$2"; shift 2 ;;
      --no-write) write=0; shift ;;
      *) die "unknown argument '$1' (usage: $0 [--runs N] [--no-write])" ;;
    esac
  done
  [[ $EUID == 0 ]] || die "needs root (the lab does)"
  log "lab $LAB_NAME ($LAB_SUBNET.0/24) in $LAB_DIR, $runs run(s) per case; lab.sh output in $BENCH_LOG"
  rows3=$(bench_case 3 "" "3 nodes, systemd + sshd" "$runs")
  rows20=$(bench_case 20 --scale "20 nodes, sshd only (--scale)" "$runs")
  body="## Lab

Command: \`bench/lab_up.sh --runs $runs\` ($(date -u +'%Y-%m-%d %H:%M UTC'); $(nproc) cores,
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r); a shared machine: other labs were running).
The systemd nodes run systemd, journald, dbus, logind and sshd only: the product is
not installed (\`make lab-install\` adds MariaDB, etcd, KMC and the app).

- *cold up*: \`lab.sh up\` on fresh node disks (first boot generates host keys) until every
  node answers ssh by key; *reboot*: \`down --keep-state\` then \`up\` on the same disks;
  *no-op up*: \`up\` on the running lab (checks every node, ssh included).
- *RSS*: sum of VmRSS of every process in the nodes' cgroups (shared library pages
  counted once per process, so it overstates); *PSS*: the same with shared pages split
  between their users; *cgroup*: the nodes' memory cgroups' usage (rss + page cache
  charged to the nodes, e.g. their overlay files). *load*: 1-minute load average after
  the run (other engineers' labs share this machine: times vary with it).

| case | run | cold up (s) | reboot (s) | no-op up (s) | RSS MB | PSS MB (per node) | cgroup MB (per node) | load |
|---|---|---|---|---|---|---|---|---|
$rows3
$rows20
"
  printf '%s\n' "$body"
  if ((write)); then
    write_section "$body"
    log "wrote the Lab section of $DOC"
  fi
}

main "$@"
