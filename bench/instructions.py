#!/usr/bin/env python3
"""Counts the instructions Purser executes per proxied request, with valgrind's callgrind.

CPU time on this virtual machine drifts by 15% and more from one run to the next, which
hides the effect of most code changes. An instruction count does not drift: the same build
under the same load counts (nearly) the same, whatever else the machine is doing. It counts
user space only; the kernel's socket work, about half of Purser's CPU time, is not in it.

    python3 bench/instructions.py                        # the release build
    PURSER_BIN=/tmp/purser-other python3 bench/instructions.py   # another build

Purser runs with all governance on, as in `bench/run`, on SQLite, behind nginx. After a
warm-up, wrk sends requests on 4 connections for `--seconds`; the requests are counted by
Purser's own metrics, and the count includes the usage rows written for them. Prints the
instructions per request: in all, in the SQLite thread (usage writing) and in the rest
(the request path: HTTP on both sides, governance, routing, metering).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import bench

# The thread that runs every SQLite statement (sqlx gives each connection its own).
SQLITE_THREAD = "sqlx_sqlite::connection::worker::ConnectionWorker::establish"


def proxied(base):
    """How many requests Purser's gateway has answered so far."""
    return bench.own_time_histogram(base)[-1][1]


def parts(profile):
    """Instructions in all, and in the SQLite thread, from a callgrind profile."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
                         capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out, re.M).group(1).replace(",", ""))
    sqlite = max((int(n.replace(",", "")) for n, line in re.findall(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", out, re.M)
                  if SQLITE_THREAD in line), default=0)
    return total, sqlite


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="length of the counted run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--keep", metavar="FILE", help="keep the profile, for callgrind_annotate FILE")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (scripts/need valgrind:valgrind wrk:wrk nginx:nginx-light)")
    bench.TMP = tempfile.mkdtemp(prefix="bench-instructions-")
    profile = os.path.join(bench.TMP, "callgrind.out")
    procs = []
    try:
        upstream = bench.free_port()
        procs.append(bench.start_nginx(upstream))
        print("== starting Purser under callgrind (about a minute)", flush=True)
        # Names uncompressed: the dump kept by --keep must name its functions itself, not
        # refer to names given in the first dump of the process.
        wrapper = ("valgrind", "--tool=callgrind", "--quiet", "--compress-strings=no", f"--callgrind-out-file={profile}")
        proc, base, key = bench.start_purser({"bench": upstream}, wrapper=wrapper)
        procs.append(proc)
        url = base + "/v1/chat/completions"
        bench.wrk(url, args.connections, 3, key)  # warm-up: connections, caches, pools
        bench.settle(proc.pid)
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], capture_output=True, check=True)
        before = proxied(base)
        load = bench.wrk(url, args.connections, args.seconds, key)
        time.sleep(2)  # the usage of the last requests is written (flushed every 100 ms)
        requests = proxied(base) - before
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], capture_output=True, check=True)
        dumps = glob.glob(profile + ".*")
        if not dumps or not requests or load["errors"]:
            raise SystemExit(f"nothing to count: {requests:.0f} requests, {load['errors']} errors, dumps {dumps}")
        dump = max(dumps, key=os.path.getmtime)
        total, sqlite = parts(dump)
        if args.keep:
            shutil.copy(dump, args.keep)
        binary = os.environ.get("PURSER_BIN") or "target/release/purser"
        print(f"\n{binary}: {requests:.0f} requests at concurrency {args.connections} under callgrind\n")
        print("| instructions per request | |")
        print("|---|---:|")
        print(f"| in all | {total / requests:,.0f} |")
        print(f"| request path (every other thread) | {(total - sqlite) / requests:,.0f} |")
        print(f"| usage writing (SQLite thread) | {sqlite / requests:,.0f} |")
    finally:
        for p in reversed(procs):
            bench.stop(p)
        shutil.rmtree(bench.TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
