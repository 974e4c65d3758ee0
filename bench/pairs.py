#!/usr/bin/env python3
"""Compares Purser's added latency under different settings, in alternating pairs of short
runs: each Purser run is preceded by a run of the same length against nginx directly, so
that the machine's drift cancels out of the per-pair differences.

    python3 bench/pairs.py                                     # Purser's defaults
    python3 bench/pairs.py "" PURSER__GATEWAY__USAGE_FLUSH_MS=5000 PURSER__SERVER__THREADS=1

Each argument is one setting to compare: environment variables for Purser, comma
separated ("" for none). A name that is an absolute path is a file to write the value
to for that setting's blocks, such as a kernel parameter under /sys (needs root; every
such file gets its first value back at the end). PURSER_BIN=PATH runs another build of
Purser, to compare builds:

    python3 bench/pairs.py /sys/module/haltpoll/parameters/guest_halt_poll_ns=0 \\
                           /sys/module/haltpoll/parameters/guest_halt_poll_ns=200000
    python3 bench/pairs.py --connections 32 "" PURSER_BIN=/tmp/purser-fat-lto

With `--postgres URL`, each block's Purser gets a fresh PostgreSQL database on that server,
and the table adds the PostgreSQL server's CPU per request (all its processes on this
machine, as in `bench/run`).

Every setting gets a fresh Purser per block; blocks alternate (`--blocks`) so that a slow
stretch of the machine does not land on one setting only, and the direct runs of a block
are made under its setting too. Needs the release build and wrk and nginx, as `bench/run`
installs them.
"""

import argparse
import os
import shutil
import statistics
import tempfile

import bench
from bench import pg


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("settings", nargs="*", default=[""], help="NAME=VALUE[,NAME=VALUE...] per setting")
    parser.add_argument("--pairs", type=int, default=5, help="pairs of runs per block")
    parser.add_argument("--blocks", type=int, default=3, help="blocks per setting")
    parser.add_argument("--seconds", type=int, default=2, help="length of each run")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="run Purser on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    bench.TMP = tempfile.mkdtemp(prefix="bench-pairs-")
    settings = [dict(pair.split("=", 1) for pair in setting.split(",") if pair) for setting in args.settings or [""]]
    files = {name for env in settings for name in env if name.startswith("/")}
    originals = {path: read(path) for path in files}
    nginx_port = bench.free_port()
    nginx = bench.start_nginx(nginx_port)
    direct_url = f"http://127.0.0.1:{nginx_port}/v1/chat/completions"
    pairs = {i: [] for i in range(len(settings))}
    try:
        for _ in range(args.blocks):
            for i, setting in enumerate(settings):
                env = {k: v for k, v in setting.items() if k not in files}
                for path in files:  # (a setting that leaves a file out gets its first value)
                    write(path, setting.get(path, originals[path]))
                database = pg.create_database(args.postgres, "purser_pairs_") if args.postgres else None
                saved = dict(os.environ)
                os.environ.update(env)
                proc = None
                try:
                    proc, base, key = bench.start_purser(
                        {"bench": nginx_port}, database and pg.database_url(args.postgres, database))
                    url = base + "/v1/chat/completions"
                    bench.wrk(url, 32, 2, key)  # warm up
                    bench.settle(proc.pid)
                    for _ in range(args.pairs):
                        direct = bench.wrk(direct_url, args.connections, args.seconds)
                        before = bench.cpu_seconds(proc.pid), bench.postgres_cpu_seconds()
                        run = bench.wrk(url, args.connections, args.seconds, key)
                        requests = max(run["requests"], 1)
                        run["cpu_us"] = (bench.cpu_seconds(proc.pid) - before[0]) / requests * 1e6
                        run["database_cpu_us"] = (bench.postgres_cpu_seconds() - before[1]) / requests * 1e6
                        pairs[i].append((direct, run))
                finally:
                    os.environ.clear()
                    os.environ.update(saved)
                    bench.stop(proc)
                    if database:
                        pg.drop_database(args.postgres, database)
    finally:
        bench.stop(nginx)
        for path, value in originals.items():
            write(path, value)
        shutil.rmtree(bench.TMP, ignore_errors=True)
    med = statistics.median
    database = f" PostgreSQL µs/req (c={args.connections}) |" if args.postgres else ""
    print(f"| setting | pairs | added p50 | added p99 | Purser p99 | direct p99 | Purser req/s | direct req/s | CPU µs/req (c={args.connections}) |{database}")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.postgres else ""))
    for i, env in enumerate(settings):
        ps = pairs[i]
        database = f" {med([r['database_cpu_us'] for _, r in ps]):.1f} |" if args.postgres else ""
        print(f"| {','.join(f'{os.path.basename(k)}={v}' for k, v in env.items()) or 'defaults'} | {len(ps)} "
              f"| {med([r['p50_us'] - d['p50_us'] for d, r in ps]) / 1000:.3f} ms "
              f"| {med([r['p99_us'] - d['p99_us'] for d, r in ps]) / 1000:.3f} ms "
              f"| {med([r['p99_us'] for _, r in ps]) / 1000:.3f} ms | {med([d['p99_us'] for d, _ in ps]) / 1000:.3f} ms "
              f"| {med([r['rps'] for _, r in ps]):,.0f} | {med([d['rps'] for d, _ in ps]):,.0f} | {med([r['cpu_us'] for _, r in ps]):.0f} |{database}")


def read(path):
    with open(path) as f:
        return f.read().strip()


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


if __name__ == "__main__":
    main()
