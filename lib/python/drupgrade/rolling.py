"""Rolling hops (issue 20; design §4.8.2.2, `rolling_upgrade`, `migration_mode: online`): a hop whose
strategy rolls upgrades its nodes a few at a time, each wave backed up, upgraded, started and
health-checked before the next one begins, so that the product keeps serving.

The rule is the product's data (product.json `rolling`): the role whose nodes serve (`serving_role`),
how many of them may be down at once (`max_unavailable`, at least one serving node always stays up),
and the roles whose nodes go last (`last_roles`: the DB primary after its replicas). A hop rolls when
its strategy says so, the version-skew rule lets its two versions run side by side, the product's
migrations of the hop are split into expand and contract (online), and there are enough serving
nodes; otherwise it stops every node together, and the plan says why (why_not).

A rolled hop becomes one hop per wave in the cluster plan (mixed.ClusterPlan: each hop upgrades only
its nodes), so the engine, the journal, resume and the per-node backups work as for a mixed cluster.
"""
import os
import re
import tarfile

from drupgrade import versions
from drupgrade.i18n import _

ONLINE = ("expand", "contract")  # the halves of an online migration (its file name says which)


class Rule:
    """product.json `rolling` (None: the product does not roll)."""

    def __init__(self, data):
        data = data or {}
        self.serving_role = data.get("serving_role", "")
        self.max_unavailable = int(data.get("max_unavailable", 1))
        self.last_roles = list(data.get("last_roles", []))

    def waves(self, roles):
        """[[node, …], …]: the nodes of `roles` ({node: [role, …]}) in the order they roll. Nodes holding
        a last role go last (one per wave, in name order); the others in name order, `max_unavailable`
        serving nodes per wave (a node that does not serve joins the wave it comes in)."""
        last = sorted(n for n, r in roles.items() if set(r) & set(self.last_roles))
        first = sorted(n for n in roles if n not in last)
        waves, serving = [], 0
        for n in first:
            serves = self.serving_role in roles[n]
            if not waves or (serves and serving >= self.max_unavailable):
                waves.append([])
                serving = 0
            waves[-1].append(n)
            serving += serves
        return waves + [[n] for n in last]


def why_not(rule, strategy, hop, roles, skew, migrations):
    """None when the hop (src, dst) rolls on the nodes of `roles`, else the reason (a sentence).
    strategy: strategies.Strategy; skew: mixed.SkewRule; migrations: the product's migrations of the
    hop that are not split into expand and contract ([name, …])."""
    src, dst = hop
    if not strategy.rolling:
        return _("its strategy {id} does not roll (no rolling_upgrade in its upgrade phase)").format(id=strategy.id)
    if rule is None or not rule.serving_role:
        return _("the product declares no rolling rule (product.json rolling)")
    if not skew.allows([src, dst]):
        return _("the version-skew rule does not let v{src} and v{dst} run side by side ({rule})").format(
            src=src, dst=dst, rule=skew.where)
    if migrations:
        return _("its database migrations are not split into expand and contract: {names}").format(
            names=", ".join(migrations))
    serving = sorted(n for n, r in roles.items() if rule.serving_role in r)
    if len(serving) <= rule.max_unavailable:
        return _("too few nodes: {count} node(s) serve ({role}) and the roll takes {bound} at a time, so none "
                 "would stay up").format(count=len(serving), role=rule.serving_role, bound=rule.max_unavailable)
    return None


def path(hops):
    """The versions a run goes through (["v2.2.0", "v2.3.0"]): the waves of a rolled hop are one hop."""
    out = ["v" + hops[0][0]] if hops else []
    for i, (src, dst) in enumerate(hops):
        if i == 0 or tuple(hops[i - 1]) != (src, dst):
            out.append("v" + dst)
    return out


def downtime(timeline, serving):
    """(seconds a node is down at most, seconds no serving node is up) over a hop, by its steps'
    estimates. timeline: [(step, seconds, [node, …] it runs on)] in run order, a rolled hop's waves one
    after the other; serving: the nodes whose service counts. A node is down from its first stop_*
    step to its last start_* step, and every step between takes that long for it (each step ends
    on every node before the next begins); the cluster is down while every serving node is."""
    windows = {}
    for k, (name, _seconds, nodes) in enumerate(timeline):
        for n in nodes:
            if name.startswith("stop_") and n not in windows:
                windows[n] = [k, None]
            elif name.startswith("start_") and n in windows:
                windows[n][1] = k
    spans = {n: (a, a if b is None else b) for n, (a, b) in windows.items()}
    took = lambda ks: sum(timeline[k][1] for k in ks)  # noqa: E731
    node = max((took(range(a, b + 1)) for a, b in spans.values()), default=0.0)
    down = [k for k in range(len(timeline)) if serving and all(
        n in spans and spans[n][0] <= k <= spans[n][1] for n in serving)]
    return node, took(down)


def write_pause(timeline, db_steps):
    """Seconds a rolled hop's writes may wait on the DB primary: its database keeps serving, and the
    steps that change it while it does (db_steps: the migrations' halves the hop's strategy binds) hold
    its tables that long at most, by their estimates. timeline: as downtime's."""
    return sum(seconds for name, seconds, nodes in timeline if name in db_steps and nodes)


def roll(plan, decide):
    """The cluster plan with every hop that rolls split into its waves, each a hop of its own (its
    `waves` list says, per hop, [wave, waves] for a wave of a rolled hop, else None). decide(hop_index,
    (src, dst), nodes) -> the hop's waves ([[node, …]]) or None (the hop stops its nodes together)."""
    from drupgrade import mixed
    hops, hop_nodes, marks = [], [], []
    for i, (hop, names) in enumerate(zip(plan.hops, plan.hop_nodes)):
        waves = decide(i, hop, names)
        for k, wave in enumerate(waves or [names]):
            hops.append(hop)
            hop_nodes.append(wave)
            marks.append([k + 1, len(waves)] if waves else None)
    out = mixed.ClusterPlan(plan.found, plan.target, hops, hop_nodes, plan.kind)
    out.waves = marks
    return out


def journal_waves(plan):
    """{hopN: [wave, waves]} of the rolled hops' waves, for the journal (mixed.runs_in reads it); None
    when no hop rolls (the journal of a run that does not roll stays as it was)."""
    marks = plan.waves
    found = {"hop%d" % (i + 1): w for i, w in enumerate(marks) if w}
    return found or None


def wave_hops(data, hop):
    """The hops of a run's journal that are the waves of the rolled hop `hop` belongs to, first wave
    first (its hop_waves); [hop] for a hop that does not roll."""
    wave = (data.get("hop_waves") or {}).get(hop)
    if not wave:
        return [hop]
    first = int(hop[3:]) - wave[0] + 1
    return ["hop%d" % (first + j) for j in range(wave[1])]


def rollback_waves(data, hop, first_steps, last_steps):
    """The waves ([[node, …], …], the roll's own, in its order: the DB primary last) in which a rollback
    to the backup of the rolled hop `hop` of a run's journal takes the nodes back one wave at a time
    while the others keep serving (docs/upgrade.md, Rolling upgrades); None when it cannot, and every
    node stops together: the hop did not roll; its first wave did not end every step of its `first`
    scope (first_steps, in run order: the package unpacked and the expand half applied on every node
    it concerns, what the undo needs); a step of its `last` scope (last_steps: the contract half)
    began, so the database may no longer hold what the old version reads; or a later hop of the run
    began (its changes are not the roll's to undo)."""
    hops = wave_hops(data, hop)
    if len(hops) < 2:
        return None
    last = int(hops[-1][3:])
    first_ran = set()
    for k, fields in (data.get("results") or {}).items():
        h, step, _node = k.split("/")
        status = fields.get("status") if isinstance(fields, dict) else None
        m = re.match(r"^hop([0-9]+)$", h)
        if not m or status in (None, "queued"):  # queued: waits in a node's chain, not begun
            continue
        if int(m.group(1)) > last or (h == hops[-1] and step in last_steps):
            return None
        if h == hops[0] and step in first_steps:
            if status != "ok":
                return None
            first_ran.add(step)
    if first_steps and first_steps[-1] not in first_ran:
        return None
    nodes = data.get("hop_nodes") or {}
    return [list(nodes.get(h) or []) for h in hops]


def waves_of(data):
    """Per hop of a run's journal, [wave, waves] for a wave of a rolled hop, else None (its hop_waves)."""
    marks = data.get("hop_waves") or {}
    return [marks.get("hop%d" % (i + 1)) for i in range(len(data.get("hops", [])))]


def package_migrations(path, hints):
    """[(file name, version, online half or None)] of the migrations in a package tarball, read from
    its member names only (nothing is unpacked: the package is not verified yet when the plan is
    made). hints: the product's generator.json `migrations` (dir, pattern with the groups version
    and, for a split migration, online)."""
    pattern = re.compile(hints["pattern"])
    top = os.path.basename(path)[:-len(".tar.gz")]
    where = top + "/" + hints["dir"].strip("/") + "/"
    found = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.startswith(where) or "/" in member.name[len(where):]:
                continue
            name = member.name[len(where):]
            m = pattern.match(name)
            if m:
                found.append((name, versions.normalize(m.group("version")), m.groupdict().get("online")))
    return sorted(found)


def unsplit(migrations, src, dst):
    """The migrations of the versions after src up to dst that are not half of an online migration
    (expand or contract): a rolling hop cannot run them."""
    low, high = versions.key(src), versions.key(dst)
    return [name[:-len(".sql")] if name.endswith(".sql") else name for name, version, half in migrations
            if low < versions.key(version) <= high and half not in ONLINE]
