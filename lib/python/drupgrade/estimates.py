"""How long a run and each of its steps will take (design §4.7.1.2 estimated_time, §4.7.3
estimated_completion), from this controller's own history: the journals of earlier runs in the
state dir (<state_dir>/runs/<id>/journal.json).

A sample is one earlier run's wall time of one step in one hop, per wave of nodes: the step ran
on n nodes in waves as its Fanout says (parallel: ceil(n / max_parallel) waves; serial: n;
primary-first: the first node, then the rest), and its wall time is the longest node of each
wave, added up. A step's estimate for a hop is the median of its last HISTORY samples of that
hop (per product), times the waves it needs on today's nodes; without one of that hop, the
median of its samples of any hop of the product; without any, the step's declared `Estimate`
header (seconds per wave). A run's estimate is the sum over its steps, times the median ratio of
an earlier run's wall time to the sum of its steps (what the gates, ssh round trips and journal
writes between the steps add on this controller; 1 without history).
"""
import datetime
import json
import logging
import math
import os
import statistics

from drupgrade.i18n import _
from drupgrade.journal import DONE, OK
from drupgrade.timeouts import duration

log = logging.getLogger("drupgrade.estimates")
HISTORY = 5  # the last N runs of a hop that make a step's estimate
HISTORY_RUNS = 50  # the newest journals read (retention keeps far fewer)
RUN_SCOPE = "run"  # the hop key of the once-per-run steps (engine: run_phase(phase, "run", …))

# Where an estimate comes from (the plan's estimate_source).
HOP = "history"  # earlier runs of the same hop
PRODUCT = "history_product"  # earlier runs of the same step in other hops of the product
DECLARED = "declared"  # the step's Estimate header
NONE = "none"


def waves(fanout, n, max_parallel):
    """How many waves a step with this Fanout needs on n nodes (n >= 1)."""
    n, width = max(1, n), max(1, max_parallel)
    if fanout == "serial":
        return n
    if fanout == "primary-first":
        return 1 + int(math.ceil((n - 1) / float(width))) if n > 1 else 1
    return int(math.ceil(n / float(width)))


def wall(fanout, elapsed, max_parallel):
    """A step's wall time from its nodes' own times (in node order): the longest of each wave."""
    if fanout == "serial":
        return sum(elapsed)
    width = max(1, max_parallel)
    if fanout == "primary-first":
        first, rest = elapsed[:1], elapsed[1:]
        return max(first) + sum(max(rest[i:i + width]) for i in range(0, len(rest), width)) if rest else max(first)
    return sum(max(elapsed[i:i + width]) for i in range(0, len(elapsed), width))


def parse_time(text):
    """An ISO time of the journal (state.now_iso, UTC) as seconds since the epoch, or None."""
    try:
        t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None
    return (t - datetime.datetime(1970, 1, 1)).total_seconds()


def iso(seconds):
    """Seconds since the epoch as the journal writes a time (state.now_iso)."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def journal_product(data):
    """The product of a run's journal: recorded since estimates exist; before, the package files
    (<product>-<version>.tar.gz) say it."""
    if data.get("product"):
        return data["product"]
    for record in (data.get("packages") or {}).values():
        name = os.path.basename(record.get("file", ""))
        if "-" in name:
            return name.rsplit("-", 1)[0]
    return None


class Sample:
    """One step of one earlier run in one hop: its wall time per wave."""

    def __init__(self, run_id, src, dst, step, per_wave):
        self.run_id, self.src, self.dst, self.step, self.per_wave = run_id, src, dst, step, per_wave


def samples_of(data, steps, max_parallel):
    """The samples of one journal (a dict): (samples, run_ratio). Only results that ended ok count;
    run_ratio: the run's wall time over the sum of its steps' wall times, for a run that ended
    done with every step in one attempt (None otherwise)."""
    by_name = {s.name: s for s in steps}
    hop_versions = {"run": (None, None)}
    for hop, info in (data.get("hop_info") or {}).items():
        hop_versions[hop] = (info.get("from"), info.get("to"))
    grouped = {}  # (hop, step) -> [(node, elapsed)]
    for k, r in sorted((data.get("results") or {}).items()):
        hop, name, node = k.split("/")
        if r.get("status") != OK or name not in by_name or hop not in hop_versions:
            continue
        try:
            elapsed = float(r.get("elapsed"))
        except (TypeError, ValueError):
            continue
        grouped.setdefault((hop, name), []).append((node, elapsed, r.get("attempts", 1)))
    found, total = [], 0.0
    for (hop, name), rows in sorted(grouped.items()):
        step = by_name[name]
        times = [e for _n, e, _a in rows]
        w = wall(step.fanout, times, max_parallel)
        total += w
        src, dst = hop_versions[hop]
        found.append(Sample(data.get("run_id"), src, dst, name, w / waves(step.fanout, len(times), max_parallel)))
    ratio = None
    results = (data.get("results") or {}).values()
    if data.get("status") == DONE and total > 0 and all(r.get("attempts", 1) == 1 for r in results):
        starts = [parse_time(r.get("started")) for r in results]
        ends = [parse_time(r.get("ended")) for r in results]
        if None not in starts and None not in ends and starts:
            ratio = (max(ends) - min(starts)) / total
    return found, ratio


class Estimate:
    """A step's (or a run's) estimate: seconds, where it came from, how many earlier runs."""

    def __init__(self, seconds, source, runs=0):
        self.seconds, self.source, self.runs = seconds, source, runs

    @property
    def text(self):
        if self.source == NONE:
            return _("unknown")
        return duration(self.seconds) if self.seconds >= 0.5 else _("under 1 s")

    def as_dict(self):
        return {"estimated_time": self.text, "estimated_seconds": int(round(self.seconds)),
                "estimate_source": self.source, "estimate_runs": self.runs}


class Estimator:
    """The estimates of one controller (its state dir's runs) for one product."""

    def __init__(self, samples, ratios, max_parallel):
        self.samples = samples  # oldest first
        self.ratios = ratios
        self.max_parallel = max_parallel

    @classmethod
    def load(cls, runs_dir, product, steps, max_parallel, exclude=None):
        """From the journals in runs_dir of `product` (the newest HISTORY_RUNS; `exclude`: a run id
        left out, the run being estimated). Unreadable journals are passed over (said in the log)."""
        samples, ratios = [], []
        names = sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []
        for run_id in names[-HISTORY_RUNS:]:
            if run_id == exclude:
                continue
            path = os.path.join(runs_dir, run_id, "journal.json")
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                log.debug("estimates: passing over %s: %s", path, e)
                continue
            if not isinstance(data, dict) or journal_product(data) != product:
                continue
            found, ratio = samples_of(data, steps, max_parallel)
            samples += found
            if ratio is not None:
                ratios.append(ratio)
        return cls(samples, ratios[-HISTORY:], max_parallel)

    def step(self, step, hop, n_nodes):
        """The estimate of `step` in hop (src, dst), or None for a once-per-run step, on n nodes."""
        mine = [s for s in self.samples if s.step == step.name]
        same = [s for s in mine if hop is None or (s.src, s.dst) == tuple(hop)]
        n_waves = waves(step.fanout, n_nodes, self.max_parallel)
        for source, found in ((HOP, same), (PRODUCT, mine if hop is not None else [])):
            if found:
                last = found[-HISTORY:]
                return Estimate(statistics.median(s.per_wave for s in last) * n_waves, source, len(last))
        if step.estimate > 0:
            return Estimate(step.estimate * n_waves, DECLARED)
        return Estimate(0, NONE)

    @property
    def overhead(self):
        """What the time between steps adds: the median ratio of earlier runs (1 without)."""
        return statistics.median(self.ratios) if self.ratios else 1.0

    def run(self, step_estimates):
        """The run's estimate from its steps' estimates."""
        found = [e for e in step_estimates if e.source != NONE]
        if not found:
            return Estimate(0, NONE)
        sources = [e.source for e in found]
        source = min(sources, key=[HOP, PRODUCT, DECLARED].index)
        runs = max(e.runs for e in found)
        return Estimate(sum(e.seconds for e in found) * self.overhead, source, runs)


def node_count(step, nodes):
    """How many nodes the step runs on (the controller's steps of role controller: once)."""
    if "controller" in step.roles:
        return 1
    return len([n for n in nodes if step.runs_on(n)])


def units(all_steps, hops, once_per_run, waves=None):
    """The units of a run in run order: (hop key, (src, dst) or None, step) for every step of the
    once-per-run phases, then every step of every hop; in a wave of a rolled hop (waves: per hop,
    [wave, waves] or None) only the steps that run in that wave (steps.in_wave)."""
    from drupgrade.steps import in_wave
    found = [(RUN_SCOPE, None, s) for s in all_steps if once_per_run(s.phase)]
    for i, hop in enumerate(hops):
        wave = waves[i] if waves else None
        found += [("hop%d" % (i + 1), tuple(hop), s) for s in all_steps
                  if not once_per_run(s.phase) and (not wave or in_wave(s.rolling, wave))]
    return found
