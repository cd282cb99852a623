"""The nodes' clocks agree: each node's offset to the controller, compared with the nodes' median."""
import statistics

from drupgrade.i18n import N_, both
from drupgrade.precheck import Finding

ID = "clock_skew"
SUMMARY = N_("the clocks of the nodes agree (skew between nodes)")
ORDER = 20
STAGE = "cluster"
WARN_SECONDS = 1.0
FAIL_SECONDS = 5.0  # etcd, replication and backup ids all order events by these clocks


def run(env):
    offsets = {n: r.offset for n, r in env.runs.items() if r.offset is not None}
    if not offsets:
        return []
    median = statistics.median(offsets.values())
    found = []
    for node in env.cfg.nodes:
        if node.name not in offsets:
            continue
        skew = offsets[node.name] - median
        rtt = env.runs[node.name].rtt or 0
        detail = ["offset to the controller %+.3f s, to the nodes' median %+.3f s (measured ±%.3f s)" % (
            offsets[node.name], skew, rtt / 2)]
        if abs(skew) - rtt / 2 > FAIL_SECONDS:
            found.append(Finding(ID, node.name, "fail", both(
                N_("the clock of node {node} is {skew:+.1f} s off the other nodes (limit {limit:.0f} s)"),
                node=node.name, skew=skew, limit=FAIL_SECONDS), both(
                N_("synchronise the clocks (chrony or ntpd against the same time source) and run the "
                   "precheck again")), detail))
        elif abs(skew) - rtt / 2 > WARN_SECONDS:
            found.append(Finding(ID, node.name, "warn", both(
                N_("the clock of node {node} is {skew:+.1f} s off the other nodes"), node=node.name, skew=skew),
                both(N_("synchronise the clocks (chrony or ntpd against the same time source)")), detail))
        else:
            found.append(Finding(ID, node.name, "pass", both(N_("clock within {skew:+.2f} s of the other nodes"),
                                                             skew=skew), None, detail))
    return found
