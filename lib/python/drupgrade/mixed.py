"""Clusters whose nodes run different versions: each node's path and the order (design §4.7.1.1,
组合升级, combined mode), and the product's version-skew rule (product.json version_skew).

The order: the nodes on the lowest version catch up with the next version up, hop by hop, until
every node runs one version; then the whole cluster goes on to the target together. A hop runs
only on the nodes it upgrades. The cluster never holds more versions than it did at the start
(a catch-up hop goes no further than a version some node already runs), and the skew rule is
checked before anything runs on the current mix and on the mix after every hop.
"""
from drupgrade import steps, versions
from drupgrade.errors import EXIT_PRECHECK, DrupgradeError
from drupgrade.i18n import _

COMBINED = "combined_upgrade"


class ClusterPlan:
    """The run's hops in order, each with the nodes it upgrades."""

    def __init__(self, found, target, hops, hop_nodes, kind):
        self.found = dict(found)  # {node: version before the run}
        self.target = target
        self.hops = list(hops)  # [(src, dst)], in run order
        self.hop_nodes = [sorted(n) for n in hop_nodes]  # the nodes each hop upgrades
        self.kind = kind
        self.waves = [None] * len(self.hops)  # per hop: [wave, waves] in a rolled hop (drupgrade.rolling)
        self.roll_reasons = {}  # {(src, dst): why the hop stops its nodes together} (Runner.roll)

    @property
    def mixed(self):
        return len(set(self.found.values())) > 1

    def node_paths(self):
        """{node: [(src, dst), …]}: the hops each node goes through, in order."""
        paths = {n: [] for n in self.found}
        for hop, names in zip(self.hops, self.hop_nodes):
            for n in names:
                paths[n].append(hop)
        return paths

    def states(self):
        """[{node: version}]: before the run, then after each hop."""
        now = dict(self.found)
        found = [dict(now)]
        for (_src, dst), names in zip(self.hops, self.hop_nodes):
            for n in names:
                now[n] = dst
            found.append(dict(now))
        return found

    def journal_nodes(self):
        """{hopN: [node, …]} for the journal when a hop leaves nodes out; None when every hop is the
        whole cluster's (the journal of a uniform run stays as it was)."""
        every = sorted(self.found)
        if all(names == every for names in self.hop_nodes):
            return None
        return {"hop%d" % (i + 1): names for i, names in enumerate(self.hop_nodes)}

    def as_dict(self):
        """The plan's nodes_paths and order (upgrade.sh plan --json)."""
        paths = self.node_paths()
        return {
            "nodes_paths": {n: {"from": "v" + self.found[n], "to": "v" + self.target,
                                "path": ["v" + self.found[n]] + ["v" + d for _s, d in paths[n]]}
                            for n in sorted(paths)},
            "order": [{"hop": "hop%d" % (i + 1), "from": "v" + s, "to": "v" + d, "nodes": names}
                      for i, ((s, d), names) in enumerate(zip(self.hops, self.hop_nodes))],
        }


def plan_cluster(matrix, found, target, mode, checker=None):
    """The ClusterPlan that brings every node of found ({node: version}) to target. One version: the
    matrix's path, every hop on every node. Several: combined mode (above). Each part of the way is
    versions.plan_path with the compatibility checker (its fallback included), checked on the nodes
    that part upgrades."""
    every = sorted(found)
    distinct = sorted(set(found.values()), key=versions.key)
    if len(distinct) == 1:
        hops, kind = _path(matrix, distinct[0], target, mode, checker, every)
        return ClusterPlan(found, target, hops, [every] * len(hops), kind)
    for v in distinct:  # every node's own way to the target must exist (a newer node: cannot go down)
        versions.plan_path(matrix, v, target, mode)
    now = dict(found)
    hops, hop_nodes = [], []
    while len(distinct) > 1:
        low, nxt = distinct[0], distinct[1]
        names = sorted(n for n, v in now.items() if v == low)
        segment, _kind = _path(matrix, low, nxt, mode, checker, names)
        hops += segment
        hop_nodes += [names] * len(segment)
        for n in names:
            now[n] = nxt
        distinct = distinct[1:]
    rest, _kind = _path(matrix, distinct[0], target, mode, checker, every)
    hops += rest
    hop_nodes += [every] * len(rest)
    return ClusterPlan(found, target, hops, hop_nodes, COMBINED)


def _path(matrix, src, dst, mode, checker, names):
    """versions.plan_path from src to dst, its compatibility checks on the nodes `names` only."""
    if checker is None:
        return versions.plan_path(matrix, src, dst, mode)
    checker.scope = set(names)
    try:
        return versions.plan_path(matrix, src, dst, mode, checker)
    finally:
        checker.scope = None


class SkewRule:
    """Which versions may run side by side (product.json version_skew.side_by_side: groups of
    versions; a mix is allowed when one group holds all of its versions). No rule: one version only."""

    def __init__(self, data, where):
        self.where = where  # what to name in messages: the product file
        self.groups = [{versions.normalize(v) for v in g} for g in (data or {}).get("side_by_side", [])]

    def allows(self, found):
        mix = set(found)
        return len(mix) <= 1 or any(mix <= g for g in self.groups)

    def check(self, plan):
        """Refuse (exit 3) a plan that leaves the cluster in a forbidden mix after any of its hops; the
        warnings to say (a forbidden current mix that the plan converges safely). While a hop runs its
        nodes are down (the backup phase stops them) and come back at its target: the mixes that run
        are the ones between the hops."""
        states = plan.states()
        warnings = []
        if not self.allows(states[0].values()):
            warnings.append(_("the nodes run versions that must not run side by side ({mix}; {rule}): the run "
                              "converges them first").format(mix=describe(states[0]), rule=self.where))
        for i, (src, dst) in enumerate(plan.hops):
            after = set(states[i + 1].values())
            if not self.allows(after):
                raise DrupgradeError(
                    _("no safe order: after hop {n} ({src} -> {dst} on {nodes}) the cluster would run {versions} "
                      "side by side, which the version-skew rule forbids ({rule}); now: {mix}").format(
                        n=i + 1, src=src, dst=dst, nodes=", ".join(plan.hop_nodes[i]),
                        versions=", ".join(sorted(after, key=versions.key)), rule=self.where,
                        mix=describe(states[0])),
                    code=EXIT_PRECHECK,
                    hint=_("nothing was changed; bring the nodes named above to versions the rule allows side by "
                           "side (by hand, or by reinstalling them), then run 'bin/upgrade.sh plan' again"))
        return warnings


def describe(found):
    return ", ".join("%s=%s" % kv for kv in sorted(found.items()))


# -- a run's journal (Runner.new_journal writes hop_nodes for a mixed cluster) -------------------
def upgraded_in(data, hop, node):
    """True when the run's hop upgrades the node (every hop upgrades every node of a uniform run)."""
    names = (data.get("hop_nodes") or {}).get(hop)
    return names is None or node in names


def runs_in(data, hop, node, scope="wave"):
    """True when a step of rolling scope `scope` (steps.ROLLING) runs on the node in the run's hop. A
    hop that is a wave of a rolled hop (the journal's hop_waves: [wave, waves]) runs a `wave` step on
    its own nodes, a `first` step on every node in its first wave only, a `last` step on every node
    in its last wave only; any other hop runs every step on the nodes it upgrades."""
    wave = (data.get("hop_waves") or {}).get(hop)
    if wave is None or scope == "wave":
        return upgraded_in(data, hop, node)
    return steps.in_wave(scope, wave)

