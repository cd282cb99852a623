"""A node's health probed at fixed ticks from inside its network namespace, for the availability
benchmark (bench/availability.py) and the lab test of a rolling upgrade
(tests/integration/test_drp_2_3_0.py): at every tick, is at least one node up."""
import json
import subprocess
import threading
import time


class Prober(object):
    """One node's health at every tick t0 + k * interval, from inside its network namespace."""

    def __init__(self, netns, url, t0, interval, patience):
        self.netns, self.url, self.t0, self.interval, self.patience = netns, url, t0, interval, patience
        self.ticks = {}  # tick index -> up (bool)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _probe(self, k):
        """Tick k: up when the service answers ok within `patience` seconds (a loaded machine's curl
        may take longer than the interval to start: each tick has its own probe)."""
        try:
            out = subprocess.run(["ip", "netns", "exec", self.netns, "curl", "-s", "-f", "-m", str(self.patience),
                                  self.url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 timeout=self.patience + 5).stdout
            self.ticks[k] = json.loads(out.decode("utf-8", "replace")).get("status") == "ok"
        except (subprocess.TimeoutExpired, ValueError):
            self.ticks[k] = False

    def _loop(self):
        probes, k = [], 0
        while not self.stop.is_set():
            wait = self.t0 + k * self.interval - time.time()
            if wait > 0:
                time.sleep(wait)
            t = threading.Thread(target=self._probe, args=(k,), daemon=True)
            t.start()
            probes.append(t)
            k += 1
        for t in probes:
            t.join()

    def all_up_since(self, k):
        return all(up for i, up in self.ticks.items() if i >= k) and any(i >= k for i in self.ticks)


def windows(ticks):
    """Runs of consecutive down ticks: [(first, last)]."""
    out, start, prev = [], None, None
    for k in sorted(ticks):
        if not ticks[k]:
            if start is None or k != prev + 1:
                if start is not None:
                    out.append((start, prev))
                start = k
            prev = k
    if start is not None:
        out.append((start, prev))
    return out


def cluster_down(probers):
    """The ticks every prober saw, at which no node was up (the service was off everywhere)."""
    common = set.intersection(*(set(p.ticks) for p in probers))
    return [k for k in sorted(common) if not any(p.ticks[k] for p in probers)]
