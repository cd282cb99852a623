"""§4.3: progress every 10 s, remaining every 30 s, warnings at 85 % and 95 %, the timeout block."""
import pytest

from drupgrade import i18n, timeouts


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


def run_watch(timeout, until, step=1, what="", **progress):
    watch = timeouts.Watch(timeout, what)
    said = []
    for t in range(0, until + 1, step):
        said += [(t, level, text) for level, text in watch.tick(t, **progress)]
    return said


def test_cadence_of_progress_remaining_and_warnings():
    said = run_watch(100, 100)
    progress = [t for t, _l, text in said if text.startswith("[progress]")]
    remaining = [t for t, _l, text in said if text.startswith("time left")]
    warnings = [(t, level) for t, level, _t in said if level in ("warning", "critical")]
    assert progress == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert remaining == [30, 60, 90]
    assert warnings == [(85, "warning"), (95, "critical")]


def test_progress_in_the_designs_form_with_the_runs_counts_and_estimate():
    said = run_watch(600, 30, what="[upgrade] node1 db_migrate", done=7, total=20, remaining=900)
    texts = [text for _t, _l, text in said]
    assert "[progress] 35% (7/20 steps done), [upgrade] node1 db_migrate: running for 10 s (timeout 10 min)" in texts
    assert "[upgrade] node1 db_migrate: estimated remaining: 15 min" in texts
    i18n.set_lang("zh")
    said = run_watch(600, 10, what="[upgrade] node1 db_migrate", done=7, total=20)
    assert said[0][2] == "[进度] 35% (7/20 个工步完成)，[upgrade] node1 db_migrate: 已执行 10秒（超时设置 10分钟）"


def test_the_watch_asks_for_the_counts_only_when_a_line_is_due():
    watch = timeouts.Watch(600)
    assert not watch.talks(9.9) and watch.talks(10)
    watch.tick(10)
    assert not watch.talks(19) and watch.talks(20)


def test_warning_text_has_left_and_used():
    said = run_watch(1800, 1530, step=10)
    warning = [text for _t, level, text in said if level == "warning"][0]
    assert "4 min 30 s left" in warning and "used: 25 min 30 s/30 min" in warning


def test_timeout_block_has_every_field_of_the_design():
    facts = timeouts.parse_summary("cpu=85 mem=78 io=92 db_bytes=3221225472")
    lines = timeouts.timeout_block("node1", "upgrade", "DB migrate", "db", "", 1800, 2100, facts,
                                   "/var/lib/drupgrade/logs/r1/node1/db_migrate.timeout.txt")
    text = "\n".join(lines)
    for part in ("node1", "[upgrade] DB migrate", "data volume: 3.0GB", "1800s (30 min)",
                 "2100s (35 min)", "exceeded by: 300s (5 min)", "CPU: 85%, memory: 78%, disk IO: 92%",
                 "off-peak", "db_migrate.timeout.txt"):
        assert part in text


def test_timeout_block_shows_the_controllers_own_figures():
    facts = {"cpu": "5", "mem": "40", "io": "1"}
    controller = {"load": 3.5, "cpus": 2, "mem": 91, "rss": 83886080, "threads": 14}
    lines = timeouts.timeout_block("node1", "backup", "dump", "db", "", 60, 90, facts, "/x", controller=controller)
    assert "controller: load 3.5 on 2 CPUs, memory 91% in use; drupgrade: 80.0MB resident, 14 threads" in lines
    assert len(lines) == len(timeouts.timeout_block("node1", "backup", "dump", "db", "", 60, 90, facts, "/x")) + 1


def test_timeout_block_in_chinese():
    i18n.set_lang("zh")
    facts = {"cpu": "85", "mem": "78", "io": "92", "port": "3306"}
    text = "\n".join(timeouts.timeout_block("node1", "upgrade", "启动数据库", "service", "3306", 120,
                                            150, facts, "/x"))
    for part in ("升级操作超时", "[升级流程] 启动数据库", "服务启动超时, 端口: 3306", "超时设置: 120秒 (2分钟)",
                 "实际执行: 150秒 (2分30秒)", "超出时间: 30秒", "CPU: 85%, 内存: 78%, 磁盘IO: 92%",
                 "检查系统资源和依赖"):
        assert part in text, part


def test_next_due_is_the_nearest_message_or_the_timeout():
    watch = timeouts.Watch(4)
    assert watch.next_due(0) == pytest.approx(3.4)  # 85 % of 4 s comes before the 10 s progress
    watch.tick(3.4)
    assert watch.next_due(3.4) == pytest.approx(0.4)  # then 95 %
    watch.tick(3.8)
    assert watch.next_due(3.8) == pytest.approx(0.2)  # then the timeout itself
    assert timeouts.Watch(600).next_due(0) == 10
