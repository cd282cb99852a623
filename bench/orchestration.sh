#!/usr/bin/env bash
# Orchestration overhead of `upgrade.sh run` (issue 5): wall time of a one-hop upgrade on the
# 3-node lab against the critical path of the work itself, per round:
#   - node steps: each step's own time on the node (the `drstep chain` begin/end markers,
#     journaled as node_elapsed), combined as the engine orders them: a group of steps that
#     chain on each node (Barrier: node) costs its slowest node's sum; a step alone costs its
#     slowest node (per wave for serial and primary-first fan-out);
#   - controller steps (package check, uploads, manifests): their slowest node;
#   - the first contact: opening the ssh connections and reading each node's version (the
#     journal's connect_s; sshd's key exchange and session setup, what any tool pays once).
# Overhead = wall - critical path: controller start, planning, journal, ssh round trips, gates, end.
# The tree is byte-compiled first, as an installed tree is after its first command.
# Writes the "Orchestration" section of docs/benchmarks.md (medians over the rounds); with
# DATA_MB, its "Orchestration with data" section: the same upgrade after DATA_MB MB of extra
# rows in the product database (dumped, imported, replicated) and DATA_MB MB of local data
# files on every node (archived and verified by the backup), closer to a production cluster.
# Usage: [DATA_MB=N] bench/orchestration.sh [FROM] [TO] [ROUNDS]   (default 2.1.0 2.2.0 3)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
FROM=${1:-2.1.0} TO=${2:-2.2.0} ROUNDS=${3:-3}
DATA_MB=${DATA_MB:-0}
LAB_DIR=${LAB_DIR:-build/lab}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tests/lab/lab.sh up --nodes 3 >/dev/null
bin/upgrade.sh --help >/dev/null  # the controller's venv exists
"$(. lib/bootstrap.sh && bootstrap::python && echo "$DRUPGRADE_VENV")/bin/python" -m compileall -q lib/python >/dev/null
for round in $(seq "$ROUNDS"); do
  tests/lab/install.sh "$FROM" >/dev/null 2>&1
  if ((DATA_MB > 0)); then  # 1 KiB rows on the primary (replicated), random local files everywhere
    ssh -F "$LAB_DIR/ssh_config" node1 "mysql drp -e 'DROP TABLE IF EXISTS bench_payload; CREATE TABLE bench_payload (id INT PRIMARY KEY,
      data TEXT) ENGINE=InnoDB; INSERT INTO bench_payload SELECT seq, REPEAT(SHA2(seq, 256), 16)
      FROM seq_1_to_$((DATA_MB * 1024))'"
    for n in node1 node2 node3; do
      ssh -F "$LAB_DIR/ssh_config" "$n" "head -c ${DATA_MB}M /dev/urandom > /var/lib/drp/data/bench-payload.bin"
    done
  fi
  sed "s|^state_dir = .*|state_dir = $work/state$round|" "$LAB_DIR/upgrade.ini" > "$work/upgrade.ini"
  chmod 600 "$work/upgrade.ini"
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s.%N)
  bin/upgrade.sh --config "$work/upgrade.ini" run --to "$TO" > "$work/run$round.log" 2>&1 ||
    { tail -20 "$work/run$round.log" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$work/state$round $start $end $load" >> "$work/rounds.txt"
done

PYTHONPATH=lib/python:bench python3 - "$work/rounds.txt" "$FROM" "$TO" "$ROUNDS" "$DATA_MB" <<'PY'
import os, statistics, sys, time
from drupgrade import engine, retry_policy, steps
from drupgrade.journal import Journal
from benchmd import write_section

rounds_file, src, dst, n_rounds, data_mb = sys.argv[1:]
policies = retry_policy.load("conf/retry_policy.json")
all_steps = steps.discover("scripts/steps", policies)


class Cfg:
    run = {"max_parallel": 1}


up = engine.Upgrade(Cfg(), all_steps, policies, None, None, None, None)


def critical(journal, hop, phase_steps):
    """(node seconds, controller seconds) on the critical path of one phase."""
    def t(step, node, field):
        return journal.result(hop, step, node).get(field) or 0.0
    nodes = sorted({r.node for r in journal.results()})
    node_s = local_s = 0.0
    for group in up.groups(phase_steps):
        if group[0].local:
            local_s += max(t(group[0], n, "elapsed") for n in nodes)
        elif len(group) > 1:
            node_s += max(sum(t(s, n, "node_elapsed") for s in group) for n in nodes)
        elif group[0].fanout == "parallel":
            node_s += max(t(group[0], n, "node_elapsed") for n in nodes)
        else:  # serial / primary-first: waves one after the other (the sum is their upper bound)
            node_s += sum(t(group[0], n, "node_elapsed") for n in nodes)
    return node_s, local_s


rows = []
phases = []
for line in open(rounds_file):
    state_dir, start, end, load = line.split()
    journal = Journal.current(os.path.join(state_dir, "current_run.json"), os.path.join(state_dir, "runs"))
    j = journal.data
    node_s = local_s = 0.0
    for phase in steps.phase_names():
        phase_steps = [s for s in all_steps if s.phase == phase]
        hop = "run" if steps.once_per_run(phase) else "hop1"
        a, b = critical(journal, hop, phase_steps)
        node_s, local_s = node_s + a, local_s + b
    wall = float(end) - float(start)
    connect = j["connect_s"]
    rows.append((wall, node_s, local_s, connect, wall - node_s - local_s - connect, float(load)))
    timing = {}  # the controller's own phases: the `timing:` lines of controller.log
    for text in open(os.path.join(state_dir, "logs", "controller.log"), encoding="utf-8", errors="replace"):
        if "] timing: " in text:
            what, _sp, secs = text.split("] timing: ", 1)[1].rstrip().rpartition(" ")[0].rpartition(" ")
            timing[what] = timing.get(what, 0.0) + float(secs)
    timing["start and the rest (wall - the phases)"] = wall - sum(timing.values())
    phases.append(timing)
med = [statistics.median(col) for col in zip(*rows)]
wall, node_s, local_s, connect, over, _load = med
quick = min(rows)  # the shortest wall time: the worst ratio for the same overhead
title = "## Orchestration with data\n" if data_mb != "0" else "## Orchestration\n"
section = title + """Command: `%sbench/orchestration.sh %s %s %s` (3-node lab, one hop, password auth; %s; %d rounds,
medians; load average at the start of each round: %s).

| measure | seconds |
|---|---|
| wall time of `upgrade.sh run --to %s` | %.1f |
| critical path of the work: node steps (own times on the node, as the engine orders them) | %.1f |
| critical path of the work: controller steps (package check, uploads, manifests) | %.1f |
| first contact: ssh connections to every node, their versions read | %.2f |
| orchestration overhead (wall - all of the above) | %.2f (%.1f %%) |

Per round (wall / node / controller / first contact / overhead): %s.
Quickest round: %.1f s wall, overhead %.2f s = %.1f %% (with the first contact counted as overhead too: %.1f %%).
Target (SPEC §7): overhead <= 3 %%.

Where the wall time goes on the controller (medians of the `timing:` lines of controller.log, s):
%s.
""" % ("DATA_MB=%s " % data_mb if data_mb != "0" else "", src, dst, n_rounds, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), len(rows),
       ", ".join("%.1f" % r[5] for r in rows), dst, wall, node_s, local_s, connect, over, 100 * over / wall,
       "; ".join("%.1f / %.1f / %.1f / %.2f / %.2f (%.1f %%)" % (r[0], r[1], r[2], r[3], r[4], 100 * r[4] / r[0])
                 for r in rows),
       quick[0], quick[4], 100 * quick[4] / quick[0], 100 * (quick[3] + quick[4]) / quick[0],
       "; ".join("%s %.2f" % (k, statistics.median(p.get(k, 0.0) for p in phases)) for k in phases[0]))
write_section(title, section)
PY
