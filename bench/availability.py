#!/usr/bin/env python3
"""Availability during an upgrade (issue 20): every node's health probed twice a second while
`upgrade.sh run` upgrades the lab, then per node how long it was down and for the cluster how
long no node was up (the DR service was off).

  bench/availability.py [--hop 2.2.0:2.3.0 --hop 2.1.0:2.3.0 --hop 2.2.0:2.3.0@node3:check_services]
                        [--rounds 1] [--interval 0.5] [--patience 2] [--product drp]

For each --hop FROM:TO (default: drp's rolling hop 2.2.0 -> 2.3.0; beside it, 2.1.0 -> 2.3.0, whose
hop stops every node together; and the rolling hop whose node3 fails its health check for good, so
that the automatic rollback takes the nodes back node by node: FROM:TO@NODE:STEP arms the fault
"fail 9" for STEP on NODE, [run] fault_injection = on, and the round counts the whole run, the
upgrade and its rollback), each round installs FROM on the lab (tests/lab/install.sh),
starts one prober per node (curl of the product's `health_url` from product.json, inside the node's
network namespace, at the same ticks on every node, each tick its own probe: a tick is "down" when
the answer is not HTTP 200 with "status": "ok" within --patience seconds), runs the upgrade, and
keeps probing until every node answers again (or 60 s). Down time is counted in ticks (resolution:
the interval). Beside each node's down time: its own restart, the journal's time from its first
service stop to its last service start (the stop/start steps of its hops), which is what a node is
down for at least. Writes the "Availability" section of docs/benchmarks.md (never run by the tests:
it times things).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))
sys.path.insert(0, os.path.join(TOP, "bench"))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))

from benchmd import write_section  # noqa: E402
from probe import Prober, cluster_down, windows  # noqa: E402

from drupgrade import estimates  # noqa: E402
from drupgrade.journal import Journal  # noqa: E402

LAB = os.path.join(TOP, "tests", "lab", "lab.sh")
STOPS = re.compile(r"^stop_")  # the steps that take a node's services down, and those that bring them up
STARTS = re.compile(r"^start_")


def lab_env():
    env = dict(os.environ)
    env.setdefault("LAB_NAME", "drl")
    return env


def health_url(product):
    """The product's health URL (product.json: the first "health_url" key, wherever it is)."""
    def find(doc):
        if isinstance(doc, dict):
            if isinstance(doc.get("health_url"), str):
                return doc["health_url"]
            for value in doc.values():
                found = find(value)
                if found:
                    return found
        return None
    with open(os.path.join(TOP, "products", product, "product.json")) as f:
        url = find(json.load(f))
    if not url:
        sys.exit("products/%s/product.json declares no health_url: nothing to probe" % product)
    return url


def own_restart(journal, node):
    """Seconds from the node's first stop step to the end of its last start step (its own restart)."""
    first = last = None
    for r in journal.results():
        if r.node != node:
            continue
        if STOPS.match(r.step):
            t = estimates.parse_time(r.get("started"))
            first = t if first is None or (t is not None and t < first) else first
        if STARTS.match(r.step):
            t = estimates.parse_time(r.get("ended"))
            last = t if last is None or (t is not None and t > last) else last
    return last - first if first is not None and last is not None else None


def one_round(args, spec, nodes, url, work, n):
    hop, _at, fault = spec.partition("@")
    src, dst = hop.split(":", 1)
    env = lab_env()
    subprocess.run([os.path.join(TOP, "tests", "lab", "install.sh"), "--product", args.product, src],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    paths = subprocess.run([LAB, "paths"], env=env, check=True, stdout=subprocess.PIPE).stdout.decode()
    ini = next(line.split()[-1] for line in paths.splitlines() if line.rstrip().endswith("upgrade.ini"))
    state = os.path.join(work, "state%d" % n)
    conf = os.path.join(work, "upgrade%d.ini" % n)
    with open(ini) as f, open(conf, "w") as g:
        text = re.sub(r"(?m)^state_dir = .*$", "state_dir = " + state, f.read())
        g.write(text + ("\n[run]\nfault_injection = on\n" if fault else ""))
    os.chmod(conf, 0o600)
    if fault:  # the step fails for good on the node: the roll stops, the automatic rollback begins
        node, step = fault.split(":", 1)
        subprocess.run([LAB, "exec", node, "--", "bash", "-c", "mkdir -p /var/lib/drupgrade/faults && echo 'fail 9' > "
                        "/var/lib/drupgrade/faults/" + step], env=env, check=True)
    t0 = time.time() + 0.2
    probers = {name: Prober("%s-%s" % (env["LAB_NAME"], name), url, t0, args.interval, args.patience)
               for name in nodes}
    for p in probers.values():
        p.thread.start()
    time.sleep(2)  # every node answers before the run starts
    start = time.time()
    res = subprocess.run([os.path.join(TOP, "bin", "upgrade.sh"), "--config", conf, "--yes", "--plain", "run",
                          "--to", dst], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    end = time.time()
    if fault:
        subprocess.run([LAB, "exec", node, "--", "rm", "-f", "/var/lib/drupgrade/faults/" + step], env=env, check=True)
    if res.returncode != (1 if fault else 0):
        sys.stdout.write(res.stdout.decode("utf-8", "replace")[-3000:])
        sys.exit("round %d: the upgrade %s (exit %d)" % (n, "did not fail as armed" if fault else "failed",
                                                          res.returncode))
    after = int((end - t0) / args.interval) + 1
    deadline = time.time() + 60
    while time.time() < deadline and not all(p.all_up_since(after) for p in probers.values()):
        time.sleep(args.interval)
    for p in probers.values():
        p.stop.set()
        p.thread.join()
    journal = Journal.current(os.path.join(state, "current_run.json"), os.path.join(state, "runs"))
    off = cluster_down(probers.values())
    per_node = {}
    for name, p in sorted(probers.items()):
        down = windows(p.ticks)
        per_node[name] = {
            "down_s": sum(b - a + 1 for a, b in down) * args.interval,
            "windows": len(down),
            "longest_s": max((b - a + 1 for a, b in down), default=0) * args.interval,
            "restart_s": own_restart(journal, name)}
    how = "rolling, %d waves" % len(journal.data["hop_waves"]) if journal.data.get("hop_waves") \
        else "every node together"
    if fault:
        session = Journal.load(os.path.join(state, "rollbacks", journal.data["auto_rollback"]["rollback_id"],
                                            "journal.json"))
        how += "; %s fails on %s, the automatic rollback goes %s" % (
            step, node, "node by node" if session.data.get("online") else "with every node stopped")
    return {"wall_s": end - start, "cluster_down_s": len(off) * args.interval,
            "nodes": per_node, "hop": "%s -> %s" % (src, dst), "strategy": how,
            "load": float(open("/proc/loadavg").read().split()[0])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hop", action="append", help="FROM:TO[@NODE:STEP], the versions installed and upgraded to, "
                    "and a step that fails for good on a node (repeatable)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--patience", type=float, default=2.0, help="seconds a probe waits for the answer")
    ap.add_argument("--product", default="drp")
    args = ap.parse_args()
    env = lab_env()
    subprocess.run([LAB, "up", "--nodes", "3"], env=env, check=True, stdout=subprocess.DEVNULL)
    status = json.loads(subprocess.run([LAB, "status", "--json"], env=env, check=True,
                                       stdout=subprocess.PIPE).stdout.decode())
    nodes = [n["name"] for n in status]
    url = health_url(args.product)
    work = tempfile.mkdtemp(prefix="availability.")
    try:
        hops = args.hop or ["2.2.0:2.3.0", "2.1.0:2.3.0", "2.2.0:2.3.0@node3:check_services"]
        rounds = [one_round(args, spec, nodes, url, work, len(hops) * n + i + 1)
                  for n in range(args.rounds) for i, spec in enumerate(hops)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["## Availability",
             "Command: `bench/availability.py %s--rounds %d --interval %s "
             "--patience %s` "
             "(%d-node lab, %s; %s; load average at the start of each round: %s)." % (
                 "".join("--hop %s " % h for h in args.hop or []), args.rounds, args.interval, args.patience,
                 len(nodes), args.product,
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ", ".join("%.1f" % r["load"] for r in rounds)),
             "",
             "Every node's `%s` probed every %s s from inside its network namespace during `upgrade.sh run`; "
             "down = no HTTP 200 with status ok within %s s. *own restart*: the journal's time from "
             "the node's first service stop to the end of its last service start." % (
                 url, args.interval, args.patience),
             "",
             "| round | hop | how it ran | run wall (s) | cluster-wide down (s) | node: down (s) / windows / "
             "longest (s) / own restart (s) |",
             "|---|---|---|---|---|---|"]
    for i, r in enumerate(rounds, 1):
        cells = "; ".join("%s: %.1f / %d / %.1f / %s" % (
            name, v["down_s"], v["windows"], v["longest_s"],
            "%.1f" % v["restart_s"] if v["restart_s"] is not None else "-") for name, v in sorted(r["nodes"].items()))
        lines.append("| %d | %s | %s | %.1f | **%.1f** | %s |" % (i, r["hop"], r["strategy"], r["wall_s"],
                                                                r["cluster_down_s"], cells))
    lines += ["", "The longest window of a node is its restart; short extra windows are probes that waited longer "
              "than --patience (at a high load average the probe itself is late). Target (issue 20, a rolling hop): "
              "cluster-wide down 0 s at this resolution; each node down no longer than its own restart.", ""]
    write_section("## Availability\n", "\n".join(lines))


if __name__ == "__main__":
    main()
