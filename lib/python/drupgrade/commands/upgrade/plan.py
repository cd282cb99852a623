"""upgrade.sh plan: the upgrade path for the cluster (the design's upgrade_plan, §4.7.1.2)."""
import json

from drupgrade import estimates, runner, steps, versions
from drupgrade.i18n import N_, _
from drupgrade.timeouts import duration

SUMMARY = N_("upgrade plan: versions on the nodes, the path through the matrix, rollback points")


def add_arguments(parser):
    versions.add_target_arguments(parser)


def host_keys(r):
    """{node: its host key and state} after the plan's first contact (hostkeys.describe)."""
    from drupgrade.transport import Endpoint, hostkeys
    known_hosts = r.transport().settings.known_hosts
    return {n.name: hostkeys.describe(Endpoint.of(n), known_hosts) for n in r.cfg.nodes}


def hop_groups(hops, marks):
    """[(first index, last index)] of the path's hops: the waves of a rolled hop are one group."""
    groups = []
    for i, hop in enumerate(hops):
        if groups and marks[i] and marks[i][0] > 1 and tuple(hops[groups[-1][0]]) == tuple(hop):
            groups[-1][1] = i
        else:
            groups.append([i, i])
    return groups


def build_plan(r, hops, kind, found, target):
    from drupgrade import product, rolling
    all_steps = [s for s in r.steps() if not steps.once_per_run(s.phase)]  # the steps of every hop
    chosen = r.strategies(hops)
    units, total, _overhead = r.estimates(hops, waves=r.cluster_plan.waves)  # this controller's history (Estimates)
    estimate = {(hop, s.name): e for _k, hop, s, e in units}
    cp = r.cluster_plan
    marks = cp.waves
    rule = product.of(r.cfg).rolling
    serving = [n.name for n in r.cfg.nodes if rule is None or not rule.serving_role or rule.serving_role in n.roles]
    plan_steps, plan_hops, i = [], [], 1
    for first, last in hop_groups(hops, marks):
        src, dst = hops[first]
        strategy, bound = chosen[(src, dst)]
        timeline = []  # (step, seconds, the nodes it runs on), the hop's waves one after the other
        for k in range(first, last + 1):
            wave = marks[k]
            for s in all_steps:
                if wave and not steps.in_wave(s.rolling, wave):
                    continue
                names = cp.hop_nodes[k] if not wave or s.rolling == "wave" else sorted(found)
                timeline.append((s.name, estimate[((src, dst), s.name)].seconds,
                                 [n.name for n in r.cfg.nodes if n.name in names and s.runs_on(n)]))
                plan_steps.append(dict({"step_id": i, "hop": "v%s -> v%s" % (src, dst), "phase": s.phase,
                                        "step": s.name, "wave": wave, "description": s.summary,
                                        "timeout": r.cfg.timeouts.get(s.name, s.timeout), "strategy_id": strategy.id,
                                        "component": bound[s.name].component if s.name in bound else None},
                                       **estimate[((src, dst), s.name)].as_dict()))
                i += 1
        node_s, cluster_s = rolling.downtime(timeline, serving)
        pause = rolling.write_pause(timeline, {s.name for s in all_steps if s.kind == "db" and s.phase != "backup"
                                               and s.name in bound}) if marks[first] else None
        plan_hops.append({"from": "v" + src, "to": "v" + dst, "strategy_id": strategy.id,
                          "strategy_file": strategy.path, "bindings": [b.as_dict() for b in bound.values()],
                          "rolls": bool(marks[first]), "waves": [cp.hop_nodes[k] for k in range(first, last + 1)]
                          if marks[first] else None, "why_not_rolling": cp.roll_reasons.get((src, dst)),
                          "downtime": {"node_s": node_s, "cluster_s": cluster_s, "db_write_pause_s": pause,
                                       "source": total.source}})
    src = hops[0][0] if hops else target
    keys = host_keys(r)
    return {"upgrade_plan": {
        "source_version": "v" + src,
        "target_version": "v" + target,
        "upgrade_mode": kind,
        "estimated_time": total.text,
        "estimated_seconds": int(round(total.seconds)),
        "estimate_source": total.source,
        "estimate_runs": total.runs,
        "path": rolling.path(hops),
        "hops": plan_hops,
        "nodes": [{"name": n.name, "host": n.host, "roles": n.roles, "version": "v" + found[n.name],
                   "auth": n.auth_method, "host_key": keys[n.name]["fingerprint"],
                   "host_key_state": keys[n.name]["state"]} for n in r.cfg.nodes],
        "steps": plan_steps,
        "compatibility_checks": r.compat.results if r.compat else [],
        "fallback_reason": r.compat.fallback_reason if r.compat else None,
        **cp.as_dict(),  # each node's path and the order of the hops (drupgrade.mixed)
        "rollback_points": [{"point_id": "before_hop%d" % (n + 1), "version": "v" + h["from"][1:],
                             "description": _("full backup before {src} -> {dst}").format(
                                 src=h["from"][1:], dst=h["to"][1:])} for n, h in enumerate(plan_hops)],
    }}


def print_checks(p):
    """The compatibility checks (design §4.7.2.2) per hop: the counts, every failure and what was
    not read; when the jump failed them, why the path is progressive (the JSON has every result)."""
    hops = []
    for c in p["compatibility_checks"]:
        if c["hop"] not in hops:
            hops.append(c["hop"])
    for hop in hops:
        mine = [c for c in p["compatibility_checks"] if c["hop"] == hop]
        count = {k: sum(1 for c in mine if c["result"] == k) for k in ("pass", "fail", "skip")}
        print("  " + _("compatibility checks of {hop}: {passed} pass, {failed} fail, {skipped} not read").format(
            hop=hop, passed=count["pass"], failed=count["fail"], skipped=count["skip"]))
        for c in mine:
            if c["result"] == "fail":
                print("    " + _("FAIL {check} ({kind}) on {node}: {detail}").format(
                    check=c["check"], kind=c["kind"], node=c["node"], detail=c["detail"]))
        skipped = sorted({c["check"] for c in mine if c["result"] == "skip"})
        if skipped:
            print("    " + _("not read: {checks} ({why})").format(
                checks=", ".join(skipped), why=next(c["detail"] for c in mine if c["result"] == "skip")))
    if p["fallback_reason"]:
        print(_("fallback: {reason}").format(reason=p["fallback_reason"]))


def rolls_text(h):
    """Whether the hop rolls (its waves) or stops its nodes together (why), and the downtime expected."""
    d = h["downtime"]
    cost = _("expected downtime: each node up to {node}, the cluster {cluster}").format(
        node=duration(d["node_s"]), cluster=duration(d["cluster_s"]))
    if h["rolls"]:
        return _("rolls node by node in {n} waves ({waves}); {cost}; the database serves throughout, its "
                 "migrations may hold writes on the primary up to {pause}").format(
            n=len(h["waves"]), waves=" | ".join(", ".join(w) for w in h["waves"]), cost=cost,
            pause=duration(d.get("db_write_pause_s") or 0))
    return _("stops its nodes together ({why}); {cost}").format(why=h["why_not_rolling"] or "-", cost=cost)


def source_text(estimate):
    """Where an estimate (a plan's or a step's fields) comes from, in the operator's words."""
    source, runs = estimate["estimate_source"], estimate["estimate_runs"]
    if source == estimates.HOP:
        return _("median of the last {n} runs of the same hops on this controller").format(n=runs)
    if source == estimates.PRODUCT:
        return _("median of the last {n} runs of the same steps in other hops on this controller").format(n=runs)
    if source == estimates.DECLARED:
        return _("the steps' declared estimates: this controller has not run these steps yet")
    return _("no estimate: no history and no declared estimate")


def run(ctx):
    from drupgrade import packages
    with runner.Runner(ctx) as r:
        target = versions.normalize(ctx.args.to)
        hops, kind, found = r.plan(target, ctx.args.mode)
        plan = build_plan(r, hops, kind, found, target)
    # How `run` would authenticate the packages, and whether it would refuse one (exit 2, after the plan).
    plan["upgrade_plan"]["package_authentication"], refused = packages.report(ctx.config, hops)
    if ctx.json:
        print(json.dumps(plan, ensure_ascii=False, indent=2))
        if refused:
            raise refused
        return 0
    p = plan["upgrade_plan"]
    print(_("upgrade plan: {src} -> {dst} ({mode})").format(src=p["source_version"], dst=p["target_version"],
                                                          mode=p["upgrade_mode"]))
    print(_("path: {path}").format(path=" -> ".join(p["path"])))
    print(_("estimated time: {time} ({source})").format(time=p["estimated_time"], source=source_text(p)))
    for h in p["hops"]:
        print("  " + _("hop {src} -> {dst}: strategy {strategy}").format(src=h["from"], dst=h["to"],
                                                                        strategy=h["strategy_id"]))
        print("    " + rolls_text(h))
        wave = None
        for s in p["steps"]:
            if s["hop"] == "%s -> %s" % (h["from"], h["to"]):
                if s["wave"] and s["wave"] != wave:
                    wave = s["wave"]
                    print("    " + _("wave {k}/{n}: {nodes}").format(k=wave[0], n=wave[1],
                                                                    nodes=", ".join(h["waves"][wave[0] - 1])))
                print("    %-3d %-18s %-20s %s" % (s["step_id"], s["phase"], s["step"], s["estimated_time"]))
    print_checks(p)
    states = {"new": _("new: learned now"), "recorded": _("recorded"), "unchecked": _("not checked")}
    for n in p["nodes"]:
        print("  %-10s %-15s %-6s %-8s %s" % (n["name"], n["host"], n["version"], n["auth"], ",".join(n["roles"])))
        print("             " + _("host key: {fingerprint} ({state})").format(
            fingerprint=n["host_key"] or "-", state=states.get(n["host_key_state"], n["host_key_state"] or "-")))
    if any(n["host_key_state"] == "new" for n in p["nodes"]):
        print(_("new host keys were trusted at first contact: compare each fingerprint with the node's own "
                "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console) before you run the upgrade"))
    if len(set(found.values())) > 1:  # a mixed cluster: each node's own path, and which hop runs where
        print(_("each node's path:"))
        for name, np in sorted(p["nodes_paths"].items()):
            print("  %-10s %s" % (name, " -> ".join(np["path"])))
        print(_("order:"))
        for o in p["order"]:
            print("  " + _("{hop}: {src} -> {dst} on {nodes}").format(
                hop=o["hop"], src=o["from"], dst=o["to"], nodes=", ".join(o["nodes"])))
    for rp in p["rollback_points"]:
        print(_("rollback point: {desc}").format(desc=rp["description"]))
    auth = p["package_authentication"]
    if auth["note"]:
        print(_("warning: {note}").format(note=auth["note"]))
    for pkg in auth["packages"]:
        if pkg["verified"]:
            print(packages.describe(dict(pkg, signature=auth["key_type"])))
        else:
            print(_("REFUSED: {problem}").format(problem=pkg["problem"]))
    if refused:
        raise refused
    print(_("{n} steps; run it with: bin/upgrade.sh run --to {dst}").format(n=len(p["steps"]), dst=ctx.args.to))
    return 0
