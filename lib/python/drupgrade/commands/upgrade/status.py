"""upgrade.sh status: the version_state of the last run (design §4.7.3), per node."""
import json

from drupgrade import runner, state
from drupgrade.i18n import N_, _
from drupgrade.journal import RUNNING

SUMMARY = N_("version_state of the last run, per node")
# version_state's upgrade_status (design §4.7.3; --json keeps these words) as the operator reads it.
STATUS_WORDS = {"completed": N_("completed"), "in_progress": N_("in progress"), "failed": N_("failed"),
                "rolled_back": N_("rolled back"), "rolling_back": N_("rolling back"), "interrupted": N_("interrupted")}


def add_arguments(parser):
    pass


def run(ctx):
    r = runner.Runner(ctx)
    journal = r.current_journal()
    if journal is None:
        if ctx.json:
            print(json.dumps({"version_state": None}))
        else:
            print(_("no upgrade has run yet"))
        return 0
    vs = r.version_state(journal)
    if ctx.json:
        print(json.dumps(vs, ensure_ascii=False, indent=2))
        return 0
    v = vs["version_state"]
    status = v["upgrade_status"]
    # A run in progress that no controller drives (its run lock is free) was interrupted: nothing moves
    # until 'resume'. The node-side run of a step may still end on its own; resume reads its result.
    if status == "in_progress" and journal.status == RUNNING and state.RunLock(r.state_dir).holder() is None:
        status = "interrupted"
    print(_("run {run}: {status}, {path} ({mode})").format(run=v["run_id"], status=_(STATUS_WORDS.get(status, status)),
                                                          path=" -> ".join(v["path"]), mode=v["upgrade_mode"]))
    print(_("started {start}, ended {end}").format(start=v["start_time"], end=v["end_time"] or "-"))
    if status == "interrupted":
        print(_("no controller is running it: 'bin/upgrade.sh resume' continues it from where it stopped"))
    elif v["estimated_completion"] and not v["end_time"]:
        print(_("estimated completion: {time}").format(time=v["estimated_completion"]))
    for name, n in sorted(v["nodes"].items()):
        print("  %-10s %s -> %s  %s" % (name, n["version_before"], n["target_version"],
                                         _("now {version}").format(version=n["current_version"])))
    c = v["current_step"]
    if c and status == "interrupted":
        print(_("interrupted at step: {step} on {node} ({desc})").format(step=c["step"], node=c["node"],
                                                                          desc=c["description"]))
    elif c:
        print(_("current step: {step} on {node} ({desc})").format(step=c["step"], node=c["node"],
                                                                   desc=c["description"]))
        print("  " + _("running for {elapsed}, {progress} of its estimate {estimate}").format(
            elapsed=c["elapsed_time"], progress=c["progress"] or "?", estimate=c["estimated_time"] or "?"))
    for c in v["completed_steps"] + ([v["current_step"]] if v["current_step"] else []):
        for rec in c.get("plugins", []):
            if rec["outcome"] != "retry":  # the last attempt says how it ended
                print("  " + _("plugin {plugin} at step {step} on {node}: {outcome} after {attempt} attempt(s) "
                               "({reason}; peak {kb} kB, CPU {cpu} ms, {ms} ms)").format(
                    step=c["step"], node=c["node"], kb=rec["peak_memory_kb"], cpu=rec["cpu_ms"],
                    ms=rec["duration_ms"], **{k: rec[k] for k in ("plugin", "outcome", "attempt", "reason")}))
    for f in v["failures"]:
        print(_("failed: {step} on {node}: {reason}").format(**f))
    auto = journal.data.get("auto_rollback")
    if auto:  # the run failed after its backup: rolled back by itself ([run] on_failure = rollback)
        for f in journal.data.get("failures", []):
            print(_("failed: {step} on {node}: {reason}").format(**f))
        print(_("automatic rollback {id} to backup {backup}: {status}").format(
            id=auto.get("rollback_id", "-"), backup=auto["backup_id"], status=_(STATUS_WORDS.get(status, status))))
    for p in v["rollback_points"]:
        print(_("rollback point {id}: {desc}").format(id=p["point_id"], desc=p["description"]) +
              " [%s]" % p["backup_status"])
    print(_("rollback available: {answer}").format(answer=_("yes") if v["rollback_available"] else _("no")))
    return 0
