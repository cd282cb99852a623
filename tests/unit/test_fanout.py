"""drupgrade.fanout: the one fan-out over nodes, bounded by [run] max_parallel."""
import threading

import pytest

from drupgrade import fanout


class Node:
    def __init__(self, name):
        self.name = name


class Cfg:
    def __init__(self, max_parallel, nodes=()):
        self.run = {"max_parallel": max_parallel}
        self.nodes = list(nodes)


def test_width_is_max_parallel_at_least_one_at_most_the_count():
    assert fanout.width(Cfg(4), 10) == 4
    assert fanout.width(Cfg(4), 2) == 2
    assert fanout.width(Cfg(4), 0) == 1


def test_at_most_max_parallel_calls_run_at_once_and_results_keep_the_order():
    lock = threading.Lock()
    active, peak = [0], [0]
    together = threading.Barrier(3, timeout=60)  # passes only when 3 calls run at the same time

    def call(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        together.wait()
        with lock:
            active[0] -= 1
        return i * 10

    assert fanout.fan_out(Cfg(3), call, range(6)) == [0, 10, 20, 30, 40, 50]
    assert peak[0] == 3


def test_an_exception_is_raised_after_every_call_ended():
    ended = []

    def call(i):
        if i == 1:
            raise ValueError("node 1 broke")
        ended.append(i)
        return i

    with pytest.raises(ValueError, match="node 1 broke"):
        fanout.fan_out(Cfg(2), call, range(5))
    assert sorted(ended) == [0, 2, 3, 4]


def test_by_node_maps_every_configured_node_by_name():
    cfg = Cfg(2, [Node("node1"), Node("node2"), Node("node3")])
    assert fanout.by_node(cfg, lambda n: n.name.upper()) == {"node1": "NODE1", "node2": "NODE2", "node3": "NODE3"}
    assert fanout.by_node(cfg, lambda n: 1, cfg.nodes[1:]) == {"node2": 1, "node3": 1}
    assert fanout.fan_out(cfg, lambda n: 1, []) == []
