#!/usr/bin/env bash
# Orchestration overhead of `upgrade.sh run` (issue 5): wall time of a one-hop upgrade on the
# 3-node lab against the critical path of the work itself: for every step the slowest node's
# script time (the detached run's own pid -> rc file times on the node) or the controller's
# own step time (uploads, package checks). Writes the "Orchestration" section of
# docs/benchmarks.md. Usage: bench/orchestration.sh [FROM] [TO]   (default 2.1.0 2.2.0)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
FROM=${1:-2.1.0} TO=${2:-2.2.0}
LAB_DIR=${LAB_DIR:-build/lab}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tests/lab/lab.sh up --nodes 3 >/dev/null
tests/lab/install.sh "$FROM" >/dev/null 2>&1
sed "s|^state_dir = .*|state_dir = $work/state|" "$LAB_DIR/upgrade.ini" > "$work/upgrade.ini"
chmod 600 "$work/upgrade.ini"
start=$(date +%s.%N)
bin/upgrade.sh --config "$work/upgrade.ini" run --to "$TO" > "$work/run.log" 2>&1
end=$(date +%s.%N)
journal=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["journal"])' "$work/state/current_run.json")
run_id=$(basename "$(dirname "$journal")")
for n in $(python3 -c 'import json,sys; print(" ".join(x["name"] for x in json.load(open(sys.argv[1]))["nodes"]))' "$LAB_DIR/nodes.json" 2>/dev/null || echo node1 node2 node3); do
  ssh -F "$LAB_DIR/ssh_config" "$n" "cd /var/lib/drupgrade/runs && for d in $run_id.*; do echo \"$n \$d \$(stat -c %.6Y \$d/pid) \$(stat -c %.6Y \$d/rc)\"; done"
done > "$work/times.txt"
python3 - "$journal" "$work/times.txt" "$start" "$end" "$FROM" "$TO" <<'PY'
import collections, json, os, sys, time
journal, times, start, end, src, dst = sys.argv[1:]
j = json.load(open(journal))
script = collections.defaultdict(float)  # (hop, step) -> slowest node's own script time
for line in open(times):
    node, run_key, t0, t1 = line.split()
    _run, hop, step, _attempt = run_key.split(".")[-4:]
    script[(hop, step)] = max(script[(hop, step)], float(t1) - float(t0))
local = collections.defaultdict(float)
for key, r in j["results"].items():
    hop, step, node = key.split("/")
    if (hop, step) not in script:
        local[(hop, step)] = max(local[(hop, step)], r.get("elapsed", 0))
wall = float(end) - float(start)
critical = sum(script.values()) + sum(local.values())
over = wall - critical
text = open("docs/benchmarks.md").read() if os.path.exists("docs/benchmarks.md") else "# Benchmarks\n"
section = """## Orchestration
Command: `bench/orchestration.sh %s %s` (3-node lab, one hop; %s).

| measure | seconds |
|---|---|
| wall time of `upgrade.sh run --to %s` | %.1f |
| critical path of the work: node scripts (slowest node per step) | %.1f |
| critical path of the work: controller steps (package check, uploads, manifests) | %.1f |
| orchestration overhead (wall - critical path) | %.1f (%.1f %%) |

Target: overhead <= 5 %%. The slowest steps: %s.
""" % (src, dst, time.strftime("%Y-%m-%d"), dst, wall, sum(script.values()), sum(local.values()), over,
       100 * over / wall, ", ".join("%s %.1fs" % (s, t) for (h, s), t in sorted(script.items(), key=lambda x: -x[1])[:5]))
head, sep, rest = text.partition("## Orchestration\n")
if sep:
    nxt = rest.find("\n## ")
    rest = rest[nxt + 1:] if nxt >= 0 else ""
    text = head + section + ("\n" + rest if rest else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
open("docs/benchmarks.md", "w").write(text)
print(section)
PY
