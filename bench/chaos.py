#!/usr/bin/env python3
"""The chaos campaign (issue 19, docs/reliability.md): N randomized trials of a full upgrade on the lab,
each with one or more faults at random moments, each ending -- after the operator's `resume`, `retry` or
rollback, as the tool's own advice says -- at the target version identical to a clean run, or back at
the source version exactly, with nothing of the tool left running, locked or half-written on a node.

    make chaos N=20 [SEED=7]                 # on the lab LAB_NAME/LAB_SUBNET/LAB_DIR name
    python3 bench/chaos.py --trials 20 --seed 7 [--report docs/reliability.md]

A trial is reproducible from (campaign seed, trial number): random.Random("SEED.I") draws the scenario,
the faults, their nodes, moments and durations. Trial records: docs/reliability-trials.jsonl (one JSON
per line, appended, kept in the repository: the report is rebuilt from every trial ever run); each
trial's commands' output: build/chaos/<campaign>/trial-<i>/. Exit 1 when a trial ended in any other
state (a FAILURE, recorded with what reproduces it), else 0.
"""
import argparse
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))

import labtools  # noqa: E402  (the lab suites' helpers: fingerprint, snapshot, Controller)
from lab import Lab, LabError  # noqa: E402

OUT = os.path.join(TOP, "build", "chaos")
RESULTS = os.path.join(TOP, "docs", "reliability-trials.jsonl")
ROLLBACK = os.path.join(TOP, "bin", "rollback_tool")
STOP = os.path.join(OUT, "STOP")

# (source, target, mode): the jump and a pair of progressive hops
SCENARIOS = {"jump": ("1.0.0", "2.2.0", "jump"), "hops": ("2.0.0", "2.2.0", "progressive")}
FAULTS = ("kill_controller", "cut_short", "cut_long", "kill_sshd", "reboot_node", "fill_disk", "hang")

# Short keepalives (as test_rollback's cut test): a cut is noticed after ~6 s, one reconnect with a 3 s
# connect timeout, then the command gives up on the node: the reconnect budget is about 15 s.
HEARTBEAT = {"control_interval": 2, "control_timeout": 6, "control_reconnects": 1}
BUDGET = 15
HANG_TIMEOUT = 20  # [timeouts] of the hung step: the hang outlasts it
# A node's /backup in a trial that fills it: a disk of its own of this size (lab.sh fault bound-disk,
# kept across the node's restarts and for later trials), which fill_disk fills with a file. Until
# trial 19.50, fill_disk mounted a full tmpfs over /backup: that hid the backup already written
# there, a fault no real disk makes (trials 19.37 and 19.49 then could not find it).
BACKUP_DISK = "256M"
# The steps the controller runs itself (no node fault file applies to them).
CONTROLLER_STEPS = {"load_packages", "load_nodes", "upload_tool", "precheck", "upload_package", "collect_manifest"}

# What the tool must not leave on a node after a trial (one line per finding; nothing: clean):
#  - a process of the node tool (drstep, drrun, drcheck, drprune, anything under the tool dir);
#  - the node lock's holder record (node_run_dir/.holder: released when the command ends);
#  - a temporary or partial file (*.part, *.partial, *.tmp, .*.tmp*) under the tool's directories,
#    the product's, /etc/drp and /tmp, a drcheck scratch file in /run, a drupgrade* entry in /tmp;
#  - an armed fault file (/var/lib/drupgrade/faults/*) and a key the run added to authorized_keys
#    (compared with the trial's start: `keys` line).
LEFTOVERS = r"""
set -u
me=$$
ps -eo pid=,ppid=,args= | while read -r pid ppid args; do
  [ "$pid" = "$me" ] || [ "$ppid" = "$me" ] && continue
  case "$args" in
    *"dr""step"*|*"dr""run"*|*"dr""check"*|*"dr""prune"*|*"/opt/drup""grade/"*) echo "process $pid $args";;
  esac
done
holder=/var/lib/drupgrade/runs/.holder
[ -e $holder ] && echo "lock $holder $(tr '\n' ' ' < $holder)"
find /opt/drupgrade /var/lib/drupgrade /backup /opt/drp-releases /etc/drp /tmp -xdev \
  \( -name '*.part' -o -name '*.partial' -o -name '*.tmp' -o -name '.*.tmp*' \) -printf 'temp %p\n' 2>/dev/null
find /tmp -maxdepth 1 -name 'drupgrade*' -printf 'temp %p\n'
find /run -maxdepth 1 -name 'drcheck.*' -printf 'temp %p\n'
find /var/lib/drupgrade/faults -type f -printf 'fault %p\n' 2>/dev/null
echo "keys $(cat /root/.ssh/authorized_keys 2>/dev/null | sha256sum | cut -c1-16)"
"""

# A trial starts from a node that never saw the tool: its directories and backups removed.
WIPE = "rm -rf /opt/drupgrade /var/lib/drupgrade/runs /var/lib/drupgrade/packages /var/lib/drupgrade/faults " \
       "/backup/* && mkdir -p /var/lib/drupgrade/faults"


def log(text):
    sys.stderr.write("[%s] [chaos] %s\n" % (time.strftime("%H:%M:%S", time.gmtime()), text))
    sys.stderr.flush()


def leftovers(nodes, keys_before):
    """{node: [finding]} of LEFTOVERS, the keys line compared with the trial's start."""
    found = {}
    for n in nodes:
        lines = labtools.ssh(n, LEFTOVERS, check=False).stdout.splitlines()
        bad = [ln for ln in lines if not ln.startswith("keys ")]
        keys = [ln for ln in lines if ln.startswith("keys ")]
        if keys != [keys_before.get(n)]:
            bad.append("authorized_keys changed: %s -> %s" % (keys_before.get(n), keys))
        if bad:
            found[n] = bad
    return found


def keys_now(nodes):
    return {n: [ln for ln in labtools.ssh(n, LEFTOVERS, check=False).stdout.splitlines()
                if ln.startswith("keys ")][0] for n in nodes}


def draw(rng, steps, nodes, events, faults=FAULTS):
    """The trial's faults: 1-3 of them, each (kind, node, moment: after the journal's k-th event plus
    a delay, and its own parameters)."""
    chosen = []
    for _i in range(rng.choice((1, 1, 2, 2, 3))):
        kind = rng.choice(faults)
        f = {"kind": kind, "node": rng.choice(nodes), "event": rng.randint(1, max(1, int(events * 0.9))),
             "delay": round(rng.uniform(0.0, 1.5), 2)}
        if kind == "cut_short":
            f["seconds"] = round(rng.uniform(1.0, 8.0), 1)
        elif kind == "cut_long":
            f["seconds"] = round(rng.uniform(BUDGET + 10, BUDGET + 30), 1)
        elif kind == "reboot_node":
            f["seconds"] = round(rng.uniform(0.0, 5.0), 1)
        elif kind == "fill_disk":
            f["path"], f["seconds"] = "/backup", round(rng.uniform(5.0, 40.0), 1)
        elif kind == "hang":
            f["event"], f["delay"] = 0, 0.0  # armed before the run: it fires when its step runs
            f["step"] = rng.choice(steps)
            f["count"] = rng.choice((1, 9))  # once (the step's retry outlasts it) or for good
        chosen.append(f)
    return chosen


class Trial:
    """One trial: the scenario, the faults and the operator's commands, and the checks at its end."""

    def __init__(self, lab, campaign, index, seed, reference, work, faults=FAULTS, scenarios=None):
        self.lab, self.index, self.seed, self.reference = lab, index, seed, reference
        self.rng = random.Random("%s.%d" % (campaign, index))
        self.scenario = self.rng.choice(sorted(scenarios or SCENARIOS))
        self.source, self.target, self.mode = SCENARIOS[self.scenario]
        self.nodes = [n.name for n in lab.nodes]
        ref = reference[self.scenario]
        self.faults = draw(self.rng, ref["steps"], self.nodes, ref["events"], faults)
        self.work = pathlib.Path(work) / ("trial-%d" % index)
        shutil.rmtree(str(self.work), ignore_errors=True)  # a trial run again starts from nothing: its journal counts
        self.work.mkdir(parents=True)
        self.commands, self.pending, self.notes = [], [], []

    def record(self):
        return {"campaign": self.seed, "trial": self.index, "scenario": self.scenario,
                "path": "%s -> %s (%s)" % (self.source, self.target, self.mode), "faults": self.faults,
                "commands": self.commands, "notes": self.notes}

    # -- the faults --------------------------------------------------------------------------------
    def fire(self, f, proc):
        f["fired_at"] = round(time.time() - self.t0, 1)
        try:
            self.inject(f, proc)
        except LabError as e:  # e.g. the sessions of a node a fault before took down: noted, not fatal
            f["not_applied"] = str(e)[-300:]

    def inject(self, f, proc):
        node, t = f["node"], time.time()
        if f["kind"] == "kill_controller":
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.killed = True
        elif f["kind"] in ("cut_short", "cut_long"):
            self.lab.cut(node)
            self.pending.append((t + f["seconds"], "restore", node))
        elif f["kind"] == "kill_sshd":
            self.lab.kill_sshd_sessions(node)
        elif f["kind"] == "reboot_node":
            self.lab.kill_node(node)
            self.pending.append((t + f["seconds"], "start-node", node))
        elif f["kind"] == "fill_disk":
            self.lab.fill_disk(node, f["path"], "1M")
            self.pending.append((t + f["seconds"], "unfill-disk", node, f["path"]))
        elif f["kind"] == "hang":
            labtools.arm(node, f["step"], "'hang %d'" % f["count"])
            self.pending.append((None, "disarm", node, f["step"]))  # the operator's fix before continuing

    def undo(self, action):
        try:
            self.repair(action)
        except LabError as e:
            self.notes.append("%.1fs: %s %s failed: %s" % (time.time() - self.t0, action[1], action[2], str(e)[-300:]))

    def repair(self, action):
        what, node = action[1], action[2]
        if what == "restore":
            self.lab.restore(node)
        elif what == "start-node":
            self.lab.start_node(node)
        elif what == "unfill-disk":
            self.lab.unfill_disk(node, action[3])
        elif what == "disarm":
            res = labtools.ssh(node, "rm -f /var/lib/drupgrade/faults/%s" % action[3], check=False)
            if res.returncode != 0:
                raise LabError("ssh rm failed (%d): %s" % (res.returncode, res.stderr.strip()[-200:]))
        self.notes.append("%.1fs: %s %s" % (time.time() - self.t0, what, node))

    def undo_due(self, everything=False):
        keep = []
        # A disarm (no time: the operator's fix before the next command) comes after the node is back
        # (trial 19.51: it ran while its node was down, and the armed fault was left behind).
        for action in sorted(self.pending, key=lambda a: (a[0] is None, a[0] or 0)):
            due = action[0] is not None and (everything or action[0] <= time.time())
            if due or everything and action[1] == "disarm":
                self.undo(action)
            else:
                keep.append(action)
        self.pending = keep

    # -- the operator ------------------------------------------------------------------------------
    def command(self, ctl, tool, args):
        """One command of the operator, the faults due fired while it runs; its (rc, output)."""
        n = len(self.commands) + 1
        out = self.work / ("command-%d.out" % n)
        argv = ([tool, "--config", ctl.config] if tool == ROLLBACK else ctl.argv()[:5]) + list(args)
        self.killed = False
        t = time.time()
        with open(str(out), "w") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
            while proc.poll() is None:
                seen = journal_events(ctl)
                for fault in self.faults:
                    if "fired_at" not in fault and seen >= fault["event"]:
                        time.sleep(fault["delay"])
                        self.fire(fault, proc)
                self.undo_due()
                time.sleep(0.1)
        text = out.read_text(errors="replace")
        rc = -9 if self.killed else proc.returncode
        self.commands.append({"command": " ".join([os.path.basename(tool)] + list(args)), "rc": rc,
                              "seconds": round(time.time() - t, 1), "output": str(out),
                              "last_lines": text.splitlines()[-12:]})
        return rc, text

    def next_command(self, ctl, rc, text, last):
        """What the operator runs next (None: the trial's run is over): a killed command is run again
        (`resume` for a killed run), else the tool's own advice in its last lines."""
        status = journal_status(ctl)
        if rc == 0 and last[0] == ROLLBACK:
            return None
        if status in ("done", "rolled_back") and rc in (0, 1) and not self.killed:
            return None
        if self.killed:
            return (labtools.UPGRADE, ["resume"]) if last[0] == labtools.UPGRADE else last
        advice = re.findall(r"bin/(upgrade\.sh|rollback_tool) (resume|retry|auto latest|auto_continue_from \d)",
                            "\n".join(text.splitlines()[-15:]))
        if advice:
            tool, verb = advice[-1]
            if tool == "rollback_tool":
                return ROLLBACK, ["--yes"] + verb.split()
            return labtools.UPGRADE, [verb]
        return labtools.UPGRADE, ["resume"]

    def run(self):
        """Install the source, the upgrade with its faults, the operator's way to the end, the checks."""
        self.t0 = time.time()
        for n in sorted({f["node"] for f in self.faults if f["kind"] == "fill_disk"}):
            self.lab.bound_disk(n, BACKUP_DISK)  # a disk that fills, not one that vanishes (see BACKUP_DISK)
        for n in self.nodes:
            labtools.ssh(n, WIPE)
        labtools.install(self.source)
        before = labtools.snapshot()
        keys = keys_now(self.nodes)
        ctl = labtools.Controller(self.work, run={"fault_injection": "on"}, heartbeat=HEARTBEAT,
                                  transfer={"connect_timeout": 3},
                                  timeouts={f["step"]: HANG_TIMEOUT for f in self.faults if f["kind"] == "hang"})
        self.t0 = time.time()
        for f in self.faults:
            if f["kind"] == "hang":
                self.fire(f, None)
        todo = (labtools.UPGRADE, ["run", "--to", self.target, "--mode", self.mode])
        for _i in range(10):
            rc, text = self.command(ctl, todo[0], todo[1])
            self.undo_due(everything=True)  # the operator fixes the cause: link, disk, node, fault
            todo = self.next_command(ctl, rc, text, todo)
            if todo is None:
                break
        else:
            self.notes.append("still not finished after 10 commands")
        rec = self.record()
        rec["seconds"] = round(time.time() - self.t0, 1)
        rec["journal_status"] = journal_status(ctl)
        after = labtools.snapshot()
        fp = labtools.fingerprint()
        rec["left"] = leftovers(self.nodes, keys)
        if fp == self.reference[self.scenario]["fingerprint"]:
            rec["outcome"] = "upgraded"
        elif after == before:
            rec["outcome"] = "rolled_back"
        else:
            rec["outcome"] = "FAILURE"
            rec["diff_target"] = labtools.diff(self.reference[self.scenario]["fingerprint"], fp)[-3000:]
            rec["diff_source"] = labtools.diff(before, after)[-3000:]
        if rec["left"] and rec["outcome"] != "FAILURE":
            rec["outcome"] = "FAILURE"
            rec["diff_source"] = "the tool left behind: %s" % json.dumps(rec["left"])
        return rec


def journal_events(ctl):
    try:
        return len(ctl.journal().get("events", []))
    except (OSError, ValueError, KeyError):
        return -1


def journal_status(ctl):
    try:
        return ctl.journal().get("status")
    except (OSError, ValueError, KeyError):
        return None


def reference(lab, scenario, work):
    """The fingerprint of a clean run of the scenario (cached per package set), its journal's event
    count and its node steps (where a hang can be armed)."""
    source, target, mode = SCENARIOS[scenario]
    sums = []
    for v in (source, target):
        with open(os.path.join(TOP, "build", "packages", "drp-%s.tar.gz.sha256" % v)) as f:
            sums.append(f.read().split()[0][:16])
    # The lab's name and subnet are in the product's state (its cluster name, the primary's address in etcd).
    cache = os.path.join(OUT, "reference-%s-%s-%s-%s.json" % (scenario, lab.name, lab.subnet, "-".join(sums)))
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    log("clean reference run of %s: %s -> %s (%s)" % (scenario, source, target, mode))
    for n in [x.name for x in lab.nodes]:
        labtools.ssh(n, WIPE)
    labtools.install(source)
    d = pathlib.Path(work) / ("reference-" + scenario)
    d.mkdir(parents=True, exist_ok=True)
    ctl = labtools.Controller(d)
    steps = sorted({s["step"] for s in ctl.json("plan", "--to", target, "--mode", mode)["upgrade_plan"]["steps"]
                    if s["step"] not in CONTROLLER_STEPS})
    ctl("run", "--to", target, "--mode", mode)
    ref = {"fingerprint": labtools.fingerprint(), "events": len(ctl.journal()["events"]), "steps": steps}
    os.makedirs(OUT, exist_ok=True)
    with open(cache, "w") as f:
        json.dump(ref, f)
    return ref


def campaign(trials, seed, scenarios=None, faults=FAULTS, references=None, results=None, work=None, first=1):
    """Run the trials; their records (also appended to `results`, a JSON-lines file). references:
    {scenario: reference()} known already (the lab test's clean run); work: where the trials' commands
    keep their output."""
    lab = Lab.from_env()
    work = work or os.path.join(OUT, "campaign-%s" % seed)
    os.makedirs(work, exist_ok=True)
    refs = dict(references or {})
    for s in scenarios or SCENARIOS:
        if s not in refs:
            refs[s] = reference(lab, s, work)
    records = []
    for i in range(first, trials + 1):
        if os.path.exists(STOP):  # `touch build/chaos/STOP`: the campaign ends after the trial it runs
            os.remove(STOP)
            log("stopped before trial %d (%s)" % (i, STOP))
            break
        trial = Trial(lab, seed, i, seed, refs, work, faults, scenarios)
        log("trial %d/%d (seed %s.%d): %s, faults %s" % (i, trials, seed, i, trial.scenario, ", ".join(
            "%s@%s" % (f["kind"], f["node"]) for f in trial.faults)))
        try:
            rec = trial.run()
        except (AssertionError, OSError, RuntimeError, ValueError, KeyError, subprocess.SubprocessError) as e:
            # the campaign goes on; the trial is a FAILURE with its cause (a lab command that failed, …)
            rec = trial.record()
            rec.update(outcome="FAILURE", error="%s: %s" % (type(e).__name__, str(e)[-2000:]),
                       seconds=round(time.time() - trial.t0, 1) if hasattr(trial, "t0") else None)
            trial.undo_due(everything=True)
        rec["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        log("trial %d: %s in %ss" % (i, rec["outcome"], rec.get("seconds")))
        records.append(rec)
        if results:
            with open(results, "a") as f:
                f.write(json.dumps(rec) + "\n")
        lab.up()  # a node a fault left down is booted again before the next trial
    return records


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--seed", default=None, help="campaign seed (default: the time)")
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    p.add_argument("--fault", action="append", choices=FAULTS)
    p.add_argument("--first", type=int, default=1, help="the first trial to run (a campaign continued)")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--report", default=None, help="rewrite this markdown file's trial table (docs/reliability.md)")
    a = p.parse_args(argv)
    seed = a.seed or str(int(time.time()))
    os.makedirs(OUT, exist_ok=True)
    records = campaign(a.trials, seed, a.scenario, tuple(a.fault or FAULTS), results=a.results, first=a.first)
    if a.report:
        import chaos_report
        chaos_report.write(a.results, a.report)
    failed = [r for r in records if r["outcome"] == "FAILURE"]
    log("%d trials: %d upgraded, %d rolled back, %d FAILURE" % (
        len(records), sum(r["outcome"] == "upgraded" for r in records),
        sum(r["outcome"] == "rolled_back" for r in records), len(failed)))
    for r in failed:
        log("FAILURE: trial %s.%s: %s" % (r["campaign"], r["trial"], json.dumps(r)[:3000]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
