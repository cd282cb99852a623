"""The plan's estimates against the actual durations (issue 16, design §4.7.1.2): one hop, run N
times from a fresh controller state dir. Before each run `plan --json` gives the estimate (run 1:
the steps' declared Estimate headers; run k: the history of the k-1 runs before it), then the run
ends and its journal gives the actual durations. Writes the "Estimates" section of docs/benchmarks.md.

Usage: LAB_NAME=djd LAB_SUBNET=10.231.64 python3 bench/estimates.py [--runs 4] [--from 2.1.0] [--to 2.2.0]
    [--no-write]
By hand, not in CI: each run is a fresh install of FROM on the lab and one upgrade (about a minute
on the 3-node lab).
"""
import argparse
import configparser
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))
sys.path.insert(0, os.path.join(TOP, "bench"))

from benchmd import write_section  # noqa: E402

from drupgrade import estimates, steps  # noqa: E402

LAB_NAME = os.environ.get("LAB_NAME", "drl")
LAB_DIR = os.environ.get("LAB_DIR") or os.path.join(TOP, "build", "lab" if LAB_NAME == "drl" else "lab-" + LAB_NAME)
MIN_STEP = 1.0  # steps shorter than this (seconds) are left out of the step error: ssh jitter rules them


def sh(*args, **kw):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)
    if p.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s" % (" ".join(args), p.returncode, (p.stdout + p.stderr)[-3000:]))
    return p.stdout


def controller_config(work):
    """The lab's upgrade.ini with a state dir of its own: the history starts empty."""
    ini = configparser.RawConfigParser()
    ini.optionxform = str
    ini.read(os.path.join(LAB_DIR, "upgrade.ini"), encoding="utf-8")
    if not ini.has_section("paths"):
        ini.add_section("paths")
    ini.set("paths", "state_dir", os.path.join(work, "state"))
    path = os.path.join(work, "upgrade.ini")
    with open(path, "w", encoding="utf-8") as f:
        ini.write(f)
    os.chmod(path, 0o600)
    return path


def actual(journal, max_parallel):
    """(run seconds, {step: wall seconds}) of a finished run, from its journal."""
    run = estimates.parse_time(journal["ended"]) - estimates.parse_time(journal["started"])
    by = {s.name: s for s in steps.discover(steps.STEPS_DIR, _policies())}
    times = {}
    for k, r in journal["results"].items():
        hop, name, _node = k.split("/")
        if hop == "hop1":
            times.setdefault(name, []).append(float(r["elapsed"]))
    return run, {n: estimates.wall(by[n].fanout, t, max_parallel) for n, t in times.items()}


def _policies():
    from drupgrade import retry_policy
    return retry_policy.load(os.path.join(TOP, "conf", "retry_policy.json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--from", dest="src", default="2.1.0")
    ap.add_argument("--to", dest="dst", default="2.2.0")
    ap.add_argument("--no-write", action="store_true", help="print the section, leave docs/benchmarks.md alone")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-estimates-")
    config = controller_config(work)
    tool = [os.path.join(TOP, "bin", "upgrade.sh"), "--config", config, "--lang", "en"]
    rows = []
    for i in range(1, args.runs + 1):
        sh(os.path.join(TOP, "tests", "lab", "install.sh"), "--no-build", args.src)
        plan = json.loads(sh(*(tool + ["--json", "plan", "--to", args.dst])))["upgrade_plan"]
        t0 = time.time()
        sh(*(tool + ["run", "--to", args.dst]))
        took = time.time() - t0
        cur = json.load(open(os.path.join(work, "state", "current_run.json")))
        journal = json.load(open(cur["journal"]))
        run_s, walls = actual(journal, 4)
        est = {s["step"]: s["estimated_seconds"] for s in plan["steps"]}
        step_err = [abs(est[n] - w) / w for n, w in walls.items() if w >= MIN_STEP and n in est]
        rows.append({"run": i, "source": plan["estimate_source"], "history": plan["estimate_runs"],
                     "estimate": plan["estimated_seconds"], "actual": run_s, "command": took,
                     "error": (plan["estimated_seconds"] - run_s) / run_s,
                     "step_error": statistics.median(step_err) if step_err else None, "steps": len(step_err)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    lines = ["## Estimates", "",
             "Command: `LAB_NAME=%s python3 bench/estimates.py --runs %d --from %s --to %s` (3-node lab, one hop; "
             "%s; a shared machine of 2 cores: the lab's steps last seconds, so their noise is large)." % (
                 LAB_NAME, args.runs, args.src, args.dst, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())),
             "",
             "Each run starts from a fresh install of %s; `plan --json` estimates it before it starts, from the "
             "runs before it on the same controller (run 1: the steps' declared `Estimate`). Run time: the "
             "journal's start to end; step error: the median of |estimate - actual| / actual over the steps "
             "of at least %d s." % (args.src, MIN_STEP),
             "",
             "| run | estimate from | runs in history | estimate (s) | actual (s) | run error | median step error "
             "(steps) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %d | %s | %d | %d | %.0f | %+.0f %% | %s |" % (
            r["run"], r["source"], r["history"], r["estimate"], r["actual"], 100 * r["error"],
            "%.0f %% (%d)" % (100 * r["step_error"], r["steps"]) if r["step_error"] is not None else "-"))
    after3 = [abs(r["error"]) for r in rows if r["history"] >= 3]
    if after3:
        lines += ["", "After three runs of the hop: run error at most %.0f %% (target: within 30 %%)." % (
            100 * max(after3))]
    section = "\n".join(lines) + "\n"
    if args.no_write:
        print(section)
    else:
        os.chdir(TOP)
        write_section("## Estimates", section)


if __name__ == "__main__":
    main()
