"""Retry policies as data (drupgrade/retry_policy.py): what each scope and cleanup means, checked on
load, said in the operator's language from one place."""
import json
import os

import pytest

from drupgrade import i18n, retry_policy, steps
from drupgrade.errors import EXIT_USAGE, DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(TOP, "conf", "retry_policy.json")


class Node:
    def __init__(self, name, roles):
        self.name, self.roles = name, roles


N1, N2, N3 = Node("n1", ["db_primary"]), Node("n2", ["app"]), Node("n3", ["app"])


def step(name, retry, roles="any"):
    return steps.Step("/x/%s.sh" % name, 10, name, {"Summary": name, "Summary-zh": name, "Timeout": "60",
                                                    "Retry": retry, "Roles": roles}, "upgrade")


UNZIP, CONFIG, MIGRATE = step("unzip", "direct"), step("config", "direct"), step("migrate", "from_unzip", "db_primary")
PHASE = [UNZIP, CONFIG, MIGRATE]


def nodes_for(s):
    return [n for n in (N1, N2, N3) if s.runs_on(n)]


def names(items):
    return [x.name for x in items]


@pytest.fixture(scope="module")
def policies():
    return retry_policy.load(CONF)


def test_the_shipped_policies_mean_what_their_summaries_say(policies):
    direct = policies["direct"].plan(CONFIG, PHASE, [N2], nodes_for)
    assert (names(direct.redo), names(direct.nodes), direct.cleanup, names(direct.clean_on), direct.together) == \
        (["config"], ["n2"], CONFIG, ["n2"], False)  # the step's own cleanup where it failed, then the step
    unzip = policies["from_unzip"].plan(MIGRATE, PHASE, [N1], nodes_for)
    assert (names(unzip.redo), names(unzip.nodes), unzip.cleanup, names(unzip.clean_on), unzip.together) == \
        (["unzip", "config", "migrate"], ["n1", "n2", "n3"], UNZIP, ["n1", "n2", "n3"], True)
    assert unzip.environment and policies["from_unzip"].restarts  # §4.2.5 on every node, then from unzip
    phase = policies["phase"].plan(CONFIG, PHASE, [N2, N3], nodes_for)
    assert (names(phase.redo), phase.cleanup, phase.clean_on, phase.together) == (names(PHASE), None, [], True)
    assert policies["phase"].collects and not policies["phase"].retries_alone
    restart = policies["restart"].plan(UNZIP, PHASE, [N1], nodes_for)
    assert policies["restart"].starts_over and (restart.redo, restart.nodes, restart.cleanup) == ([], [], None)


@pytest.mark.parametrize("scope, cleanup, redo, cleaned, where", [
    ("step", "none", ["config"], None, []),  # retried without a cleanup
    ("restart_at", "step", ["unzip", "config", "migrate"], "config", ["n2"]),  # the failed step's own cleanup only
    ("phase", "step", ["unzip", "config", "migrate"], "config", ["n2"]),
])
def test_the_cleanup_field_is_obeyed(scope, cleanup, redo, cleaned, where):
    p = retry_policy.RetryPolicy("p", {"summary": "s", "summary_zh": "s", "scope": scope, "cleanup": cleanup,
                                 "restart_at": "unzip", "auto_retries": 0, "delay": 0})
    plan = p.plan(CONFIG, PHASE, [N2], nodes_for)
    assert (names(plan.redo), plan.cleanup and plan.cleanup.name, names(plan.clean_on)) == (redo, cleaned, where)


def test_the_summary_is_in_the_operators_language(policies):
    try:
        i18n.set_lang("zh")
        assert policies["direct"].summary == "清理残留并检查是否已完成后，直接重试当前工步"
        i18n.set_lang("en")
        assert policies["direct"].summary.startswith("retry this step directly")
    finally:
        i18n.set_lang("en")


@pytest.mark.parametrize("changes, why", [
    ({"scope": "run", "cleanup": "step"}, "scope run and cleanup run go together"),
    ({"scope": "step", "cleanup": "run"}, "scope run and cleanup run go together"),
    ({"scope": "step", "cleanup": "environment"}, "cleanup environment is the cleanup of the step"),
    ({"scope": "phase", "cleanup": "none", "auto_retries": 1}, "scope phase is never retried automatically"),
    ({"scope": "run", "cleanup": "run", "auto_retries": 2}, "scope run is never retried automatically"),
])
def test_a_policy_whose_scope_and_cleanup_disagree_is_refused(tmp_path, changes, why):
    data = json.load(open(CONF, encoding="utf-8"))
    data["policies"]["direct"].update(changes)
    path = tmp_path / "retry_policy.json"
    path.write_text(json.dumps(data))
    os.chmod(str(path), 0o600)
    with pytest.raises(DrupgradeError) as exc:
        retry_policy.load(str(path))
    assert exc.value.code == EXIT_USAGE and why in exc.value.message
    assert "retry policy direct in %s is invalid" % path in exc.value.message and "docs/upgrade.md" in exc.value.hint
