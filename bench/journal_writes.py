#!/usr/bin/env python3
"""The journal's writes under fan-out (issue 19): N threads (nodes) begin and end each of S steps
at once, as the engine's followers do when a step ends on every node; wall and CPU seconds of the
journal's writes. Usage: bench/journal_writes.py [--nodes 20] [--steps 22] [--lib DIR]
(--lib: another tree's lib/python, e.g. main's, to compare). Prints one line; writes no docs."""
import argparse
import os
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--steps", type=int, default=22)
    p.add_argument("--lib", default=os.path.join(TOP, "lib", "python"))
    args = p.parse_args()
    sys.path.insert(0, args.lib)
    from drupgrade.journal import Journal

    j = Journal.create(tempfile.mkdtemp(prefix="journal-writes-"), "run_bench", hops=[["2.1.0", "2.2.0"]],
                       target="2.2.0")
    start = threading.Barrier(args.nodes)

    def node(name):
        for i in range(args.steps):
            step = "s%02d" % i
            start.wait()
            j.begin("hop1", name, step)
            time.sleep(0.01)  # the step's work
            j.note("hop1", step, name, elapsed=1.234)
            j.finish("hop1", step, name, 0, node_elapsed=1.2)
    cpu, wall = time.process_time(), time.time()
    threads = [threading.Thread(target=node, args=("node%d" % (k + 1),)) for k in range(args.nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%d nodes x %d steps: %.2f s wall, %.2f s CPU, journal %d bytes (%s; load %.1f)" % (
        args.nodes, args.steps, time.time() - wall, time.process_time() - cpu, os.path.getsize(j.path), args.lib,
        os.getloadavg()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
