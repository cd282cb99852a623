#!/usr/bin/env python3
"""Soak (issue 19): consecutive upgrade -> one-click rollback cycles on one 3-node lab. Writes the
"Soak" section of docs/benchmarks.md; exits 1 when the soak fails (tests/lab/soakcheck.py's rule).

Usage: bench/soak.py [--cycles N] [--from V] [--to V] [--no-write]    (make soak [CYCLES=20])
  A fresh drp FROM install (default 1.0.0) and a fresh controller state dir (the node backups of
  earlier runs are left out of the counts, so that they start at zero); then per cycle:
  `upgrade.sh run --to TO`, the state-check suite of TO (tests/infra), `rollback_tool --yes auto
  latest`, the state-check suite of FROM, and the nodes' snapshot (tests/lab/nodestate.py:
  fingerprint plus exact_state.sh) against the one before the first upgrade. Measured per cycle:
  each command's wall time, peak RSS (wait4's ru_maxrss: the controller's Python and any child it
  waited for) and peak open files of the controller process (sampled every 50 ms), the state dir's
  size (without the rollback history, which keeps one entry per session by design) and the
  backups on every node and on the controller ([backup] keep of the lab's config, default 3).
Environment: LAB_NAME / LAB_SUBNET / LAB_DIR choose the lab, as for tests/lab/lab.sh.
"""
import argparse
import configparser
import json
import os
import shutil
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
sys.path.insert(0, os.path.join(TOP, "bench"))

import nodestate  # noqa: E402
import soakcheck as soak  # noqa: E402
from benchmd import write_section  # noqa: E402


def log(text):
    sys.stderr.write("[%s] [bench/soak] %s\n" % (time.strftime("%H:%M:%S", time.gmtime()), text))
    sys.stderr.flush()


def measured(argv, what):
    m = soak.run_measured(argv)
    if m.rc != 0:
        log("%s failed (rc %d):\n%s" % (what, m.rc, m.output[-4000:]))
        raise SystemExit(1)
    return m


def timed(fn, *args):
    t0 = time.time()
    fn(*args)
    return time.time() - t0


def config(work):
    """The lab's config with a state dir of the soak's own; its [backup] keep (default 3) and node backup dir."""
    ini = configparser.RawConfigParser()
    ini.optionxform = str
    ini.read(os.path.join(nodestate.LAB_DIR, "upgrade.ini"), encoding="utf-8")
    state = os.path.join(work, "state")
    ini.set("paths", "state_dir", state)
    path = os.path.join(work, "upgrade.ini")
    with open(path, "w", encoding="utf-8") as f:
        ini.write(f)
    os.chmod(path, 0o600)
    keep = ini.getint("backup", "keep") if ini.has_option("backup", "keep") else 3
    backup_dir = ini.get("paths", "node_backup_dir") if ini.has_option("paths", "node_backup_dir") else "/backup"
    return path, state, keep, backup_dir


def write(rows, verdict, args, started, load):
    lines = [
        "## Soak",
        "Command: `bench/soak.py --cycles %d --from %s --to %s` (`make soak CYCLES=%d`; 3-node systemd lab; %s; "
        "load average %s at the start, %s at the end: other engineers' labs shared the 2 cores)." % (
            args.cycles, args.src, args.dst, args.cycles, started, load[0], load[1]), "",
        "Each cycle: `upgrade.sh run --to %s`, the state-check suite of %s, `rollback_tool --yes auto latest`, "
        "the state-check suite of %s, and the snapshot of every node (fingerprint plus `exact_state.sh`) against "
        "the one before the first upgrade. *RSS*: peak resident memory of the command (the controller's Python and "
        "the children it waited for); *fds*: peak open files of the controller process (sampled every 50 ms); "
        "*state*: the controller's state dir without `rollback_history.json` (one entry per rollback session, "
        "kept by design; its entries are counted) and without `controller.log` (every command appends to it; "
        "rotated at 8 MB, 2 older files kept: *log*); *backups*: on node1/node2/node3 and on the controller after "
        "the cycle ([backup] keep = %d)." % (args.dst, args.dst, args.src, rows[0]["keep"] if rows else 3), "",
        "| cycle | upgrade (s) | rollback (s) | state checks (s) | upgrade RSS MB / fds | rollback RSS MB / fds "
        "| state KB | log KB | history | backups n1/n2/n3/ctl | drift |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        b = r["backups"]
        lines.append("| %d | %.1f | %.1f | %.1f | %.1f / %d | %.1f / %d | %d | %d | %d | %s | %s |" % (
            i, r["up_s"], r["rb_s"], r["check_s"], r["up_rss_kb"] / 1024.0, r["up_fds"], r["rb_rss_kb"] / 1024.0,
            r["rb_fds"], r["state_bytes"] // 1024, r["log_bytes"] // 1024, r["history"],
            "/".join(str(b[k]) for k in sorted(k for k in b if k != "controller")) + "/%d" % b["controller"],
            "none" if not r["drift"] else "**yes**"))
    lines += ["", "Rule (`tests/lab/soakcheck.py`): no drift and no more backups than `keep` on any node or the "
              "controller in any cycle, exactly `keep` from cycle %d on; after the warm-up (the first keep + 1 "
              "cycles) the least-squares trend of each measure may rise across the remaining cycles by at most "
              "max(8 MB, 5 %%) of RSS, 3 open files, 256 KB of state, or twice the measure's own noise around "
              "its trend when that is more; the history grows by one entry per cycle; the controller log stays "
              "within its rotation (24 MB)." % (rows[0]["keep"] if rows else 3),
              "", "Verdict: " + verdict, ""]
    write_section("## Soak\n", "\n".join(lines) + "\n", path=os.path.join(TOP, "docs", "benchmarks.md"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--from", dest="src", default="1.0.0")
    p.add_argument("--to", dest="dst", default="2.2.0")
    p.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument("--from-log", metavar="FILE", help="write the section from the cycles an earlier run logged "
                   "(its stderr: drift is logged as \"drifted\") instead of running; --started, --loads name its "
                   "start and load averages")
    p.add_argument("--started", help=argparse.SUPPRESS)
    p.add_argument("--loads", default="?,?", help=argparse.SUPPRESS)
    args = p.parse_args()
    started = args.started or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = "%.1f" % os.getloadavg()[0]
    if args.from_log:
        with open(args.from_log) as f:
            rows = [json.loads(line.split(": ", 1)[1]) for line in f if "] cycle " in line and ": {" in line]
        for r in rows:
            r["drift"] = "drifted" if r.pop("drifted", False) else ""
        problems = soak.check(rows, rows[0]["keep"], full_from=rows[0]["keep"]) if rows else ["no cycle"]
        done = "%d of %d cycles done" % (len(rows), args.cycles)
        verdict = ("**passed** (%s): no drift, retention held, nothing grew beyond noise." % done if not problems
                   else "**failed** (%s):\n\n" % done + "\n".join("- " + x.replace("\n", "\n  ") for x in problems))
        write(rows, verdict, args, started, tuple(args.loads.split(",")))
        return 1 if problems else 0
    nodestate.sh(os.path.join(TOP, "tests", "lab", "lab.sh"), "up", "--nodes", "3")
    log("fresh drp %s" % args.src)
    nodestate.sh(os.path.join(TOP, "tests", "lab", "install.sh"), args.src)
    work = tempfile.mkdtemp(prefix="soak-")
    try:
        ini, state, keep, backup_dir = config(work)
        names = nodestate.node_names()
        # Backups of earlier runs (other state dirs) are not this soak's: left out of the counts.
        earlier = soak.node_backups(names, nodestate.ssh, backup_dir)
        upgrade = [os.path.join(TOP, "bin", "upgrade.sh"), "--config", ini, "--lang", "en"]
        rollback = [os.path.join(TOP, "bin", "rollback_tool"), "--config", ini, "--lang", "en"]
        before = nodestate.snapshot()
        rows, problems = [], []
        for cycle in range(1, args.cycles + 1):
            log("cycle %d/%d: upgrade %s -> %s" % (cycle, args.cycles, args.src, args.dst))
            up = measured(upgrade + ["run", "--to", args.dst], "upgrade.sh run")
            check_s = timed(nodestate.state_check, args.dst)
            log("cycle %d/%d: rollback_tool --yes auto latest" % (cycle, args.cycles))
            rb = measured(rollback + ["--yes", "auto", "latest"], "rollback_tool auto latest")
            check_s += timed(nodestate.state_check, args.src)
            after = nodestate.snapshot()
            found = soak.node_backups(names, nodestate.ssh, backup_dir)
            counts = {n: len(found[n] - earlier[n]) for n in names}
            counts["controller"] = soak.controller_backups(state)
            rows.append({"up_s": up.seconds, "rb_s": rb.seconds, "check_s": check_s, "up_rss_kb": up.rss_kb,
                         "up_fds": up.fds, "rb_rss_kb": rb.rss_kb, "rb_fds": rb.fds,
                         "state_bytes": soak.dir_bytes(state, skip=soak.NOT_STATE),
                         "log_bytes": soak.log_bytes(state),
                         "history": soak.history_entries(state), "backups": counts,
                         "drift": nodestate.diff(before, after), "keep": keep})
            log("cycle %d: %s" % (cycle, json.dumps(dict({k: v for k, v in rows[-1].items() if k != "drift"},
                                                          drifted=bool(rows[-1]["drift"])))))
            problems = soak.check(rows, keep, full_from=keep)
            if not args.no_write and cycle < args.cycles:  # what a soak cut short still leaves
                write(rows, "unfinished: %d of %d cycles done, no problem so far" % (cycle, args.cycles) if not
                      problems else "unfinished: %d of %d cycles done; problems: %s" % (
                          cycle, args.cycles, "; ".join(problems)), args, started, (load0, "%.1f" % os.getloadavg()[0]))
            if any(x.startswith("cycle") for x in problems):
                break  # drift or retention: the next cycles would start from a wrong state
        verdict = "**passed**: no drift, retention held, nothing grew beyond noise." if not problems else \
            "**failed**:\n\n" + "\n".join("- " + x.replace("\n", "\n  ") for x in problems)
        if not args.no_write:
            write(rows, verdict, args, started, (load0, "%.1f" % os.getloadavg()[0]))
        log(verdict)
        return 1 if problems else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
