"""A step's output cannot forge its result (H2): marker lines count only at the start of a line
and with the run's secret nonce; anything else that looks like one is output, never a crash."""
import os
import subprocess

import pytest
from test_engine import NODES, make, results, step

from drupgrade import engine
from drupgrade.errors import EXIT_LOCKED

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WRONG = b"0123456789abcdef0123456789abcdef"  # the nonce's shape, not the run's nonce


def begun(tmp_path, name="backup_db"):
    """An engine whose journal has `name` running on n1 in a new run: (up, step, run_key, nonce)."""
    s = step(name, "backup", roles="db_primary")
    up, _ops, _said = make(tmp_path, [s])
    run_key = up.begin("hop1", NODES[0], s).run
    return up, s, run_key, up.journal.nonce(run_key).encode()


def follow(up, s, run_key, data, rc):
    """Stream a run's log through RunLog as the controller does (in odd chunks), then its rc."""
    run = engine.RunLog(up, "hop1", NODES[0], run_key, [s], up.journal.nonce(run_key))
    for i in range(0, len(data), 7):
        run.feed(data[i:i + 7])
    return run.close(rc)


def step_log(tmp_path, name="backup_db"):
    with open(str(tmp_path / "logs" / "n1" / (name + ".log")), "rb") as f:
        return f.read()


def test_the_audits_forged_success_is_output_and_the_real_exit_code_counts(tmp_path):
    up, s, run_key, nonce = begun(tmp_path)
    forged = [
        b"mysqldump: Got error: 1064 near 'x@@DRUPGRADE@@ end backup_db 0 101.0\n",  # mid-line, no nonce
        b"mysqldump: near 'x@@DRUPGRADE@@ " + nonce + b" end backup_db 0 101.0\n",   # mid-line, even the nonce
        b"@@DRUPGRADE@@ end backup_db 0 101.0\n",                                    # no nonce
        b"@@DRUPGRADE@@ " + WRONG + b" end backup_db 0 101.0\n",                     # another nonce
        b"@@DRUPGRADE@@ " + nonce + b" end backup_db x y\n",                         # malformed
        b"@@DRUPGRADE@@ " + nonce + b" end backup_db 0\n",                           # a field missing
        b"@@DRUPGRADE@@ " + nonce + b" end backup_db 999 1.0\n",                     # not an exit code
        b"@@DRUPGRADE@@ " + nonce + b" end nosuch 0 1.0\n",                          # unknown step
        b"@@DRUPGRADE@@ " + nonce + b" bogus backup_db\n",                           # unknown kind
        b"@@DRUPGRADE@@ " + nonce + b"\n", b"@@DRUPGRADE@@ \n",
    ]
    data = (b"@@DRUPGRADE@@ " + nonce + b" begin backup_db 100.0\n" + b"".join(forged)
            + b"@@DRUPGRADE@@ " + nonce + b" end backup_db 2 102.0\n")
    failure = follow(up, s, run_key, data, 2)
    entry = results(up)["hop1/backup_db/n1"]
    assert (entry["status"], entry["rc"], entry["attempts"]) == ("failed", 2, 1)
    assert failure is not None and failure.rc == 2
    assert step_log(tmp_path) == b"".join(forged)  # every forged line kept as the step's output
    # resume re-streams the log from byte 0: no crash, nothing changes
    assert follow(up, s, run_key, data, 2) is None
    entry = results(up)["hop1/backup_db/n1"]
    assert (entry["status"], entry["rc"], entry["attempts"]) == ("failed", 2, 1)


def test_a_forged_marker_cannot_end_a_step_that_is_still_running(tmp_path):
    up, s, run_key, nonce = begun(tmp_path)
    run = engine.RunLog(up, "hop1", NODES[0], run_key, [s], nonce.decode())
    run.feed(b"@@DRUPGRADE@@ " + nonce + b" begin backup_db 100.0\n@@DRUPGRADE@@ end backup_db 0 101.0\n"
             b"@@DRUPGRADE@@ " + WRONG + b" end backup_db 0 101.0\n")
    assert results(up)["hop1/backup_db/n1"]["status"] == "running" and not run.waiting()


def test_a_line_without_a_newline_is_never_held_whole_and_cannot_end_in_a_marker(tmp_path):
    up, s, run_key, nonce = begun(tmp_path)
    run = engine.RunLog(up, "hop1", NODES[0], run_key, [s], nonce.decode())
    run.feed(b"@@DRUPGRADE@@ " + nonce + b" begin backup_db 100.0\n")
    for _i in range(40):  # 2.5 MB of one line
        run.feed(b"x" * 65536)
        assert len(run.buf) <= engine.LINE_MAX
    run.feed(b"@@DRUPGRADE@@ " + nonce + b" end backup_db 0 101.0\n")  # the same line still: output
    assert results(up)["hop1/backup_db/n1"]["status"] == "running"
    run.feed(b"@@DRUPGRADE@@ " + nonce + b" end backup_db 3 102.0\n")
    run.close(3)
    assert results(up)["hop1/backup_db/n1"]["rc"] == 3
    log = step_log(tmp_path)
    assert log.count(b"x") == 40 * 65536 and log.endswith(b"end backup_db 0 101.0\n")


@pytest.mark.parametrize("rc, status", [(1, "failed"), (75, "ok"), (143, "ok"), (0, "ok")])
def test_the_chains_exit_code_is_checked_against_the_markers(tmp_path, rc, status):
    """drstep chain exits with the failed step's code right after its end marker: an exit code
    that says failure (not a stop, not a signal) while no step failed fails the last one begun."""
    up, s, run_key, nonce = begun(tmp_path)
    data = b"@@DRUPGRADE@@ " + nonce + b" begin backup_db 1.0\n@@DRUPGRADE@@ " + nonce + b" end backup_db 0 2.0\n"
    failure = follow(up, s, run_key, data, rc)
    entry = results(up)["hop1/backup_db/n1"]
    assert entry["status"] == status
    if status == "failed":
        assert failure.rc == rc and entry["rc"] == rc
        assert "exit code 1 although step backup_db reported success" in entry["reason"]


def test_a_refusal_of_the_node_lock_is_exit_5_not_a_failed_attempt(tmp_path):
    up, s, run_key, nonce = begun(tmp_path)
    data = b"@@DRUPGRADE@@ " + nonce + b" locked step backup_db is already running on this node (run=x pid=9)\n"
    with pytest.raises(engine.NodeLocked) as exc:
        follow(up, s, run_key, data, 5)
    assert exc.value.code == EXIT_LOCKED and "already running on this node" in exc.value.message
    assert results(up)["hop1/backup_db/n1"]["status"] == "retry"


FORGER = """#!/usr/bin/env bash
# Summary: prints forged markers, then fails
# Summary-zh: 打印伪造的标记行后失败
# Timeout: 30
# Retry: direct
# Roles: any
source "${DRSTEP_LIB:?}/step.sh"
step::run() {
  printf 'nonce seen by the step: %s\\n' "${DRSTEP_NONCE:-none}"
  printf '@@DRUPGRADE@@ end forger 0 1.0\\n'
  printf '@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger 0 1.0\\n'
  printf '@@DRUPGRADE@@ end forger x y\\n'
  printf 'no newline at the end, then a marker: @@DRUPGRADE@@ end forger 0 1.0'
  exit 3
}
step::main "$@"
"""


def test_a_real_drstep_chain_with_a_forging_step_journals_its_real_exit_code(tmp_path):
    """The real `drstep chain` (as the detached launcher starts it: the nonce in its environment,
    its output into the run's log file) and the real parser: the step cannot see the nonce, its
    forged lines are output, its last line without a newline does not swallow the end marker."""
    steps_dir = tmp_path / "steps" / "5-backup"
    steps_dir.mkdir(parents=True)
    (steps_dir / "10-forger.sh").write_text(FORGER)
    os.chmod(str(steps_dir / "10-forger.sh"), 0o755)
    s = step("forger", "backup", roles="db_primary")
    up, _ops, _said = make(tmp_path, [s])
    run_key = up.begin("hop1", NODES[0], s).run
    run_dir = tmp_path / "runs-node" / run_key
    run_dir.mkdir(parents=True)
    env = dict(os.environ, DRSTEP_STEPS_DIR=str(tmp_path / "steps"), DRSTEP_LIB=os.path.join(TOP, "scripts", "lib"),
               DRSTEP_CONTEXT="/dev/null", DRUPGRADE_RUN_DIR=str(run_dir), DRSTEP_NONCE=up.journal.nonce(run_key),
               DRUPGRADE_LANG="en")
    with open(str(run_dir / "log"), "ab") as out:
        rc = subprocess.call([os.path.join(TOP, "scripts", "bin", "drstep"), "chain", "forger"], stdout=out,
                             stderr=subprocess.STDOUT, env=env)
    assert rc == 3
    with open(str(run_dir / "log"), "rb") as f:
        data = f.read()
    failure = follow(up, s, run_key, data, rc)
    entry = results(up)["hop1/forger/n1"]
    assert (entry["status"], entry["rc"], failure.rc) == ("failed", 3, 3)
    log = step_log(tmp_path, "forger")
    assert b"nonce seen by the step: none" in log
    assert b"@@DRUPGRADE@@ 0123456789abcdef0123456789abcdef end forger 0 1.0\n" in log
    assert b"then a marker: @@DRUPGRADE@@ end forger 0 1.0\n" in log
