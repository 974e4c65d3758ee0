#!/usr/bin/env python3
"""Organizations' own databases at scale: with N organizations (default 1,000) in the main
database and none of their databases made yet (as after an upgrade that brings them), how
long `purser tenants migrate` takes to create and migrate them all, how long a second run
takes when every one is up to date, and how long `purser tenants list` takes.

  python3 bench/tenants.py [--orgs 1000] [--backend sqlite|postgres|both]

The organizations are rows generated inside the main database after `purser migrate`.
PURSER_BIN picks another build (default target/release/purser); PostgreSQL is the server
of --postgres, where a scratch database is made and dropped with its tenants' databases.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (helpers shared with the main benchmark)
import scale  # noqa: E402  (the scratch database, SQL runner)

# Generated organization i has id ORG_ID_BASE + i, far below the ids Purser hands out.
ORG_ID_BASE = 3_000_000_000


def fill(backend, database, orgs):
    false = "FALSE" if backend == "postgres" else "0"
    if backend == "postgres":
        source = f"generate_series(1, {orgs}) AS n(i)"
    else:
        source = f"(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {orgs}) SELECT i FROM n) AS n"
    scale.run_sql(database, f"""
INSERT INTO organizations (id, name, is_default, status, created_at, updated_at)
  SELECT {ORG_ID_BASE} + i, 'Org ' || i, {false}, 'active', {scale.NOW_MS}, {scale.NOW_MS} FROM {source};
""")


def timed(binary, data, env, *args):
    started = time.monotonic()
    done = subprocess.run([binary, "--data-dir", data, *args], env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"purser {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stdout


def run(backend, args, binary):
    with scale.scratch(backend, args.postgres) as (data, env):
        subprocess.run([binary, "--data-dir", data, "migrate"], env=env, check=True, capture_output=True)
        fill(backend, scale.database_of(backend, data, env), args.orgs)
        first, out = timed(binary, data, env, "tenants", "migrate")
        summary = out.strip().splitlines()[-1]
        expected = f"{args.orgs} tenants: {args.orgs} changed, 0 up to date, 0 failed"
        if summary != expected:
            raise SystemExit(f"{backend}: expected '{expected}', got '{summary}'")
        again, _ = timed(binary, data, env, "tenants", "migrate")
        listed, _ = timed(binary, data, env, "tenants", "list")
        return first, again, listed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    binary = os.environ.get("PURSER_BIN") or os.path.join(bench.ROOT, "target", "release", "purser")
    if not os.path.exists(binary):
        parser.error(f"no Purser at {binary}: build it (cargo build --release --bin purser) or set PURSER_BIN")
    bench.TMP = tempfile.mkdtemp(prefix="tenants-bench-")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"| backend | organizations | create and migrate all | again (all up to date) | `tenants list` |")
    print("|---|---:|---:|---:|---:|")
    for backend in backends:
        first, again, listed = run(backend, args, binary)
        print(f"| {backend} | {args.orgs:,} | {first:.1f} s ({first / args.orgs * 1000:.1f} ms each) | {again:.1f} s | {listed:.1f} s |",
              flush=True)


if __name__ == "__main__":
    main()
