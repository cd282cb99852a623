#!/usr/bin/env python3
"""Fan-out (issue 19): the whole upgrade (tool and package distribution, precheck, backup, upgrade,
postcheck) on 1, 3, 10 and 20 lab nodes; where the time goes per phase; the 20 / 1 node ratio.
Writes the "Fan-out" section of docs/benchmarks.md.

Usage: bench/fanout.py [--nodes 1,3,10,20] [--from V] [--to V] [--max-parallel N[,N]] [--no-write]
  For each node count (ascending: `lab.sh up --nodes N` grows the lab): systemd nodes, a fresh drp
  FROM (default 2.1.0) on every node (roles from packaging/drp/lab.json: node1 db_primary, etcd,
  kmc, app; node2 db_replica, etcd, kmc, app; node3 etcd, app; every further node app only), a
  fresh state dir, then `upgrade.sh run --to TO` (default 2.2.0) timed, once per [run] max_parallel
  given (default: the config's own). Measured: the run's wall time; the machine's CPU busy share
  (/proc/stat over the run: 100 % = both cores busy, whoever used them); the CPU seconds of the
  controller (its process and children) and of the lab's nodes (their cpuacct cgroup); per phase
  from the run's journal: its wall time (first start to last end, whole seconds), the seconds of
  all its steps on all nodes, and its critical path (each step's own time on the node, as the
  engine orders them: bench/orchestration.sh's rule).
Environment: LAB_NAME / LAB_SUBNET / LAB_DIR choose the lab, as for tests/lab/lab.sh.
"""
import argparse
import calendar
import configparser
import json
import os
import shutil
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))
sys.path.insert(0, os.path.join(TOP, "bench"))

import nodestate  # noqa: E402
import soakcheck  # noqa: E402
from benchmd import write_section  # noqa: E402

from drupgrade import config as drupgrade_config  # noqa: E402
from drupgrade import engine, retry_policy, steps  # noqa: E402
from drupgrade.journal import Journal  # noqa: E402


def log(text):
    sys.stderr.write("[%s] [bench/fanout] %s\n" % (time.strftime("%H:%M:%S", time.gmtime()), text))
    sys.stderr.flush()


def machine_cpu():
    """(busy, total) jiffies of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def lab_cpu_ns():
    """CPU nanoseconds the lab's nodes used (their cpuacct cgroups), or None."""
    with open(os.path.join(nodestate.LAB_DIR, "cgroups")) as f:
        for line in f:
            path = os.path.join(line.strip(), "cpuacct.usage")
            if "/cpuacct" in line and os.path.exists(path):
                with open(path) as u:
                    return int(u.read())
    return None


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


class Phases:
    """Where a run's time went, per phase, from its journal."""

    def __init__(self):
        self.policies = retry_policy.load(os.path.join(TOP, "conf", "retry_policy.json"))
        self.steps = steps.discover(os.path.join(TOP, "scripts", "steps"), self.policies)

        class Cfg:
            run = {"max_parallel": 1}
        self.up = engine.Upgrade(Cfg(), self.steps, self.policies, None, None, None, None)

    def critical(self, journal, hop, phase_steps, nodes):
        """Seconds on the critical path of one phase (bench/orchestration.sh's rule)."""
        def t(step, node, field):
            return journal.result(hop, step, node).get(field) or 0.0
        total = 0.0
        for group in self.up.groups(phase_steps):
            if group[0].local:
                total += max(t(group[0], n, "elapsed") for n in nodes + ["controller"])
            elif len(group) > 1:
                total += max(sum(t(s, n, "node_elapsed") for s in group) for n in nodes)
            elif group[0].fanout == "parallel":
                total += max(t(group[0], n, "node_elapsed") for n in nodes)
            else:  # serial / primary-first: waves one after the other
                total += sum(t(group[0], n, "node_elapsed") for n in nodes)
        return total

    def of(self, state_dir):
        """{phase: (wall s, step-seconds on all nodes, critical path s)}, and the first contact s."""
        journal = Journal.current(os.path.join(state_dir, "current_run.json"), os.path.join(state_dir, "runs"))
        results = journal.data["results"].values()
        nodes = sorted({r["node"] for r in results if r.get("node") != "controller"})
        out = {}
        for phase in steps.phase_names():
            names = {s.name for s in self.steps if s.phase == phase}
            mine = [r for r in results if r.get("step") in names and r.get("started") and r.get("ended")]
            if not mine:
                continue
            hop = "run" if steps.once_per_run(phase) else "hop1"
            wall = max(epoch(r["ended"]) for r in mine) - min(epoch(r["started"]) for r in mine)
            busy = sum(r.get("elapsed") or 0.0 for r in mine)
            out[phase] = (wall, busy, self.critical(journal, hop, [s for s in self.steps if s.phase == phase], nodes))
        return out, journal.data.get("connect_s") or 0.0


def config(work, name, max_parallel):
    ini = configparser.RawConfigParser()
    ini.optionxform = str
    ini.read(os.path.join(nodestate.LAB_DIR, "upgrade.ini"), encoding="utf-8")
    state = os.path.join(work, name, "state")
    os.makedirs(os.path.dirname(state))
    ini.set("paths", "state_dir", state)
    if max_parallel:
        if not ini.has_section("run"):
            ini.add_section("run")
        ini.set("run", "max_parallel", str(max_parallel))
    path = os.path.join(work, name, "upgrade.ini")
    with open(path, "w", encoding="utf-8") as f:
        ini.write(f)
    os.chmod(path, 0o600)
    width = ini.getint("run", "max_parallel") if ini.has_option("run", "max_parallel") else \
        drupgrade_config.DEFAULTS["run"]["max_parallel"]
    return path, state, width


def measure(args, n, max_parallel, work, phases):
    log("%d node(s): fresh drp %s" % (n, args.src))
    nodestate.sh(os.path.join(TOP, "tests", "lab", "install.sh"), args.src, timeout=1800)
    ini, state, width = config(work, "n%d-p%s" % (n, max_parallel or "conf"), max_parallel)
    log("%d node(s): upgrade.sh run --to %s ([run] max_parallel = %d)" % (n, args.dst, width))
    load = os.getloadavg()[0]
    cpu0, lab0 = machine_cpu(), lab_cpu_ns()
    m = soakcheck.run_measured([os.path.join(TOP, "bin", "upgrade.sh"), "--config", ini, "--lang", "en", "run",
                                "--to", args.dst], timeout=3600)
    cpu1, lab1 = machine_cpu(), lab_cpu_ns()
    if m.rc != 0:
        log("the upgrade failed (rc %d):\n%s" % (m.rc, m.output[-4000:]))
        raise SystemExit(1)
    per_phase, connect = phases.of(state)
    row = {"nodes": n, "max_parallel": width, "wall": m.seconds, "load": load,
           "busy": 100.0 * (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1]),
           "controller_cpu": m.cpu_s, "nodes_cpu": (lab1 - lab0) / 1e9 if lab0 is not None else None,
           "connect": connect, "phases": per_phase}
    log(json.dumps(row))
    return row


def write(rows, args, started):
    one = {r["max_parallel"]: r["wall"] for r in rows if r["nodes"] == 1}
    base = min(one.values()) if one else None
    order = [p for p in steps.phase_names() if any(p in r["phases"] for r in rows)]
    lines = [
        "## Fan-out",
        "Command: `bench/fanout.py --nodes %s --from %s --to %s%s` (systemd nodes: node1 db_primary, etcd, kmc, "
        "app; node2 db_replica, etcd, kmc, app; node3 etcd, app; every further node app only; %s; *load*: the "
        "load average at the start of each run, whatever else ran on the machine)." % (
            args.nodes, args.src, args.dst, " --max-parallel " + args.max_parallel if args.max_parallel else "",
            started), "",
        "One `upgrade.sh run --to %s` per row on a fresh drp %s install: tool upload, precheck, package upload, "
        "backup, upgrade, postcheck. *busy*: the machine's CPU busy share over the run (/proc/stat, both cores; "
        "whoever used them); *controller CPU*: the controller's CPU seconds (with its children); *nodes CPU*: the "
        "lab's nodes' (cpuacct); *run's CPU share*: both of those over 2 cores x wall (the rest of the busy "
        "share is other work on the machine); *critical path*: the phases' critical paths summed; *overhead*: "
        "wall - critical path - first contact (the tool's own waits: gates, ssh round trips, planning). "
        "Per phase: wall seconds (first step start to last end, whole seconds from the "
        "journal) / seconds of all its steps on all nodes / critical path (each step's own time on its node as "
        "the engine orders them)." % (args.dst, args.src), "",
        "| nodes | max_parallel | wall (s) | / 1 node | load | busy | controller CPU (s) | nodes CPU (s) | "
        "run's CPU share | first contact (s) | critical path (s) | overhead (s) | " + " | ".join(order) + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(order)]
    for r in rows:
        ph = r["phases"]
        critical = sum(v[2] for v in ph.values())
        own = (r["controller_cpu"] + (r["nodes_cpu"] or 0.0)) / (2 * r["wall"])
        lines.append("| %d | %d | %.1f | %s | %.1f | %.0f %% | %.1f | %s | %.0f %% | %.2f | %.1f | %.1f | %s |" % (
            r["nodes"], r["max_parallel"], r["wall"], "%.2fx" % (r["wall"] / base) if base else "-", r["load"],
            r["busy"], r["controller_cpu"], "%.1f" % r["nodes_cpu"] if r["nodes_cpu"] is not None else "-",
            100 * own, r["connect"], critical, r["wall"] - critical - r["connect"],
            " | ".join("%d / %.1f / %.1f" % tuple(ph[p]) if p in ph else "-" for p in order)))
    lines.append("")
    write_section("## Fan-out\n", "\n".join(lines) + "\n", path=os.path.join(TOP, "docs", "benchmarks.md"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", default="1,3,10,20")
    p.add_argument("--from", dest="src", default="2.1.0")
    p.add_argument("--to", dest="dst", default="2.2.0")
    p.add_argument("--max-parallel", default="", help="[run] max_parallel values to run each count with (a value "
                   "that gives the same fan-out as an earlier one on that count is left out)")
    p.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument("--from-log", metavar="FILE", help="write the section from the rows an earlier run logged "
                   "(its stderr) instead of running; --started names its start")
    p.add_argument("--started", help=argparse.SUPPRESS)
    args = p.parse_args()
    started = args.started or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.from_log:
        with open(args.from_log) as f:
            rows = [json.loads(line.split("] ", 2)[2]) for line in f if "] {" in line]
        write(rows, args, started)
        return 0
    widths = [int(x) for x in args.max_parallel.split(",") if x] or [None]
    phases = Phases()
    work = tempfile.mkdtemp(prefix="fanout-")
    rows = []
    try:
        for n in sorted(int(x) for x in args.nodes.split(",")):
            nodestate.sh(os.path.join(TOP, "tests", "lab", "lab.sh"), "up", "--nodes", str(n), timeout=1800)
            for width in widths:
                if width is not None and min(width, n) in [min(w, n) for w in widths[:widths.index(width)] if w]:
                    continue  # the same fan-out as an earlier width on this few nodes
                rows.append(measure(args, n, width, work, phases))
                if not args.no_write:
                    write(rows, args, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
