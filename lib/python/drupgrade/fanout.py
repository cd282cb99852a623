"""The one fan-out over nodes: a call per node, at most `[run] max_parallel` at a time (SPEC E4)."""
import concurrent.futures


def width(cfg, count):
    """How many calls run at once for `count` items: [run] max_parallel, at least 1, at most count."""
    return max(1, min(cfg.run["max_parallel"], count))


def fan_out(cfg, fn, items):
    """[fn(item) for item in items], at most [run] max_parallel at a time, in the items' order. An
    exception of one call is raised here once every call has ended."""
    items = list(items)
    if not items:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=width(cfg, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [f.result() for f in futures]


def by_node(cfg, fn, nodes=None):
    """{node name: fn(node)} for every node (default: every node of the configuration)."""
    nodes = list(cfg.nodes if nodes is None else nodes)
    return dict(zip([n.name for n in nodes], fan_out(cfg, fn, nodes)))
