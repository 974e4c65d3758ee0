#!/usr/bin/env python3
"""Where Purser's CPU goes, thread by thread: CPU time per proxied request of each of its
threads (serving threads, the background runtime's workers, SQLite's thread) and their
voluntary context switches per request, read from /proc around one wrk run.

    python3 bench/threads.py                         # c=32, the release build
    python3 bench/threads.py --connections 1
    PURSER_BIN=/tmp/purser-other python3 bench/threads.py

Purser runs with all governance on, as in `bench/run`, on SQLite, behind nginx. Run
`bench/run` once first: it installs wrk and nginx and builds Purser.
"""

import argparse
import collections
import os
import re
import tempfile

import bench


def per_thread(pid):
    """{thread name: (CPU seconds, voluntary context switches)}, summed over threads of one name."""
    cpu, switches = collections.Counter(), collections.Counter()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{task}/status") as f:
                status = f.read()
        except OSError:
            continue  # (the thread ended meanwhile)
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        cpu[name] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        switches[name] += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return cpu, switches


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    bench.TMP = tempfile.mkdtemp(prefix="bench-threads-")
    nginx_port = bench.free_port()
    nginx = bench.start_nginx(nginx_port)
    purser = None
    try:
        purser, base, key = bench.start_purser({"bench": nginx_port})
        url = base + "/v1/chat/completions"
        bench.wrk(url, args.connections, 2, key=key)  # warm-up
        bench.settle(purser.pid)
        cpu_before, switches_before = per_thread(purser.pid)
        run = bench.wrk(url, args.connections, args.seconds, key=key)
        cpu_after, switches_after = per_thread(purser.pid)
    finally:
        bench.stop(purser)
        bench.stop(nginx)
    requests = run["requests"]
    print(f"{run['rps']:,.0f} req/s at c={args.connections}\n")
    print("| thread | CPU µs / request | voluntary switches / request |")
    print("|---|---:|---:|")
    for name in sorted(cpu_after, key=lambda n: cpu_before[n] - cpu_after[n]):
        used = cpu_after[name] - cpu_before[name]
        if used > 0:
            switched = switches_after[name] - switches_before[name]
            print(f"| {name} | {used * 1e6 / requests:.1f} | {switched / requests:.3f} |")


if __name__ == "__main__":
    main()
