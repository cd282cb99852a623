"""tests/lab/soakcheck.py: the soak's rule (drift, retention, growth beyond noise) and its measurements."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

import soakcheck as soak  # noqa: E402

MB = 1024


def cycles(n, rss=lambda i: 60 * MB, fds=lambda i: 12, state=lambda i: 200000, backups=None, drift=None):
    out = []
    for i in range(n):
        kept = backups(i) if backups else min(i + 1, 3)
        out.append({"up_rss_kb": rss(i), "rb_rss_kb": 50 * MB, "up_fds": fds(i), "rb_fds": 10,
                    "state_bytes": state(i), "history": i + 1,
                    "backups": {"node1": kept, "node2": kept, "controller": kept},
                    "drift": (drift or {}).get(i, "")})
    return out


def test_a_flat_soak_passes_noise_included():
    noisy = [0, 3, -2, 5, -4, 1, 2, -3]  # MB of noise, no trend
    assert soak.check(cycles(20, rss=lambda i: (60 + noisy[i % 8]) * MB, fds=lambda i: 12 + i % 3), 3,
                      full_from=3) == []


def test_memory_that_grows_every_cycle_fails():
    problems = soak.check(cycles(20, rss=lambda i: 60 * MB + i * 700), 3)
    assert len(problems) == 1 and problems[0].startswith("up_rss_kb grows")


def test_open_files_and_state_that_grow_fail():
    problems = soak.check(cycles(20, fds=lambda i: 12 + i // 4, state=lambda i: 200000 + i * 30000), 3)
    assert [p.split()[0] for p in problems] == ["state_bytes", "up_fds"]


def test_the_warm_up_may_grow():
    """The first keep + 1 cycles fill the retention window: their growth is not a leak."""
    assert soak.check(cycles(20, state=lambda i: 100000 * min(i, 4)), 3) == []
    assert soak.check(cycles(20, state=lambda i: 100000 * i), 3)  # still growing after the warm-up


def test_cycles_of_different_work_get_the_per_cycle_rules_without_the_trends():
    """The lab suite's cycles are different tests: their sizes differ by test, not by a leak."""
    grown = cycles(8, fds=lambda i: 36 + 7 * i, state=lambda i: 587629 + 150000 * i,
                   backups=lambda i: 4 if i == 6 else 3, drift={7: "node2: - link /opt/drp-releases/1.0.0"})
    assert soak.check(grown, 3, trends=False) == [
        "cycle 7: controller holds 4 backups, the retention setting keeps 3",
        "cycle 7: node1 holds 4 backups, the retention setting keeps 3",
        "cycle 7: node2 holds 4 backups, the retention setting keeps 3",
        "cycle 8: the nodes drifted from the state before the upgrade:\nnode2: - link /opt/drp-releases/1.0.0"]
    assert {p.split()[0] for p in soak.check(grown, 3)} >= {"state_bytes", "up_fds"}


def test_retention_and_drift_are_checked_every_cycle():
    problems = soak.check(cycles(6, backups=lambda i: i + 1), 3)
    assert problems == ["cycle 4: %s holds 4 backups, the retention setting keeps 3" % w for w in
                        ("controller", "node1", "node2")] + [
        "cycle 5: %s holds 5 backups, the retention setting keeps 3" % w for w in ("controller", "node1", "node2")] + [
        "cycle 6: %s holds 6 backups, the retention setting keeps 3" % w for w in ("controller", "node1", "node2")]
    # with full_from: fewer than keep once the window is full is wrong too (retention removed too much)
    assert soak.check(cycles(5, backups=lambda i: min(i + 1, 2)), 3, full_from=3)[0] == \
        "cycle 3: controller holds 2 backups, the retention setting keeps 3"
    problems = soak.check(cycles(3, drift={1: "node1: - link /opt/drp-releases/1.0.0"}), 3)
    assert problems == ["cycle 2: the nodes drifted from the state before the upgrade:\n"
                        "node1: - link /opt/drp-releases/1.0.0"]


def test_the_history_grows_by_one_entry_per_cycle():
    c = cycles(4)
    c[2]["history"] = c[1]["history"]
    assert soak.check(c, 3)[0] == "cycle 3: the rollback history went from 2 to 2 entries (one rollback each cycle)"


def test_trend_rise():
    assert soak.trend_rise([1, 2, 3, 4]) == 3.0
    assert soak.trend_rise([5, 5, 5]) == 0.0
    assert soak.trend_rise([7]) == 0.0


def test_run_measured_reports_rc_output_memory_and_open_files(tmp_path):
    script = ("import os, sys\nfds = [os.open(os.devnull, os.O_RDONLY) for _ in range(40)]\nb = bytearray(64 << 20)\n"
              "import time; time.sleep(0.5)\nprint('done'); sys.exit(3)\n")
    m = soak.run_measured([sys.executable, "-c", script])
    assert m.rc == 3 and m.output.strip() == "done"
    assert m.rss_kb >= 64 * MB and m.fds >= 40 and m.cpu_s > 0


def test_dir_bytes_and_controller_backups(tmp_path):
    (tmp_path / "backups" / "b1").mkdir(parents=True)
    (tmp_path / "backups" / "b2").mkdir()
    (tmp_path / "backups" / "README").write_text("x")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "j.json").write_text("x" * 100)
    (tmp_path / soak.HISTORY).write_text("y" * 50)
    assert soak.controller_backups(str(tmp_path)) == 2
    assert soak.dir_bytes(str(tmp_path), skip=(soak.HISTORY,)) == 101
    assert soak.controller_backups(str(tmp_path / "none")) == 0


def test_node_backups_asks_every_node():
    class Result:
        def __init__(self, stdout):
            self.stdout = stdout
    asked = []

    def ssh(node, command):
        asked.append((node, command))
        return Result("b1\nb2\n" if node == "node1" else "")
    assert soak.node_backups(["node1", "node2"], ssh, "/backup") == {"node1": {"b1", "b2"}, "node2": set()}
    assert sorted(n for n, _c in asked) == ["node1", "node2"] and "find /backup " in asked[0][1]


def test_retention_is_checked_after_completed_runs_only(tmp_path):
    """A failed run's backup waits for the next completed run's retention."""
    c = cycles(5, backups=lambda i: i + 1)
    for row in c[3:]:
        row["retained"] = False
    assert soak.check(c, 3) == []
    journal = tmp_path / "j.json"
    (tmp_path / "current_run.json").write_text('{"journal": "%s"}' % journal)
    journal.write_text('{"failures": [{"step": "x"}]}')
    assert soak.last_run_failed(str(tmp_path))
    journal.write_text('{"failures": []}')
    assert not soak.last_run_failed(str(tmp_path))


def test_the_log_bound_is_the_controllers_rotation():
    from drupgrade import log
    assert soak.LOG_BOUND == log.LOG_MAX_BYTES * (log.LOG_KEEP + 1)
    assert soak.NOT_STATE[1:] == tuple(["controller.log"] + ["controller.log.%d" % i for i in
                                                              range(1, log.LOG_KEEP + 1)])
    c = cycles(2)
    c[1]["log_bytes"] = soak.LOG_BOUND + 1
    assert soak.check(c, 3) == ["cycle 2: the controller log takes %d bytes, its rotation keeps at most %d" % (
        soak.LOG_BOUND + 1, soak.LOG_BOUND)]


def test_a_noisy_measure_needs_a_trend_beyond_its_noise():
    """The rollback's sampled open files of a real soak: they jump with the moment of the sample."""
    seen = [39, 42, 34, 42, 52, 37]
    c = cycles(4 + len(seen))
    for row, fds in zip(c[4:], seen):
        row["rb_fds"] = fds
    assert soak.check(c, 3) == []
    for i, row in enumerate(c[4:]):  # a leak of 4 files a cycle stands out of the same noise
        row["rb_fds"] = seen[i] + 4 * i
    assert [p.split()[0] for p in soak.check(c, 3)] == ["rb_fds"]
