#!/usr/bin/env python3
"""Purser at scale: with N keys (default 1,000,000) owned by M users (default 100,000) in
the database, measure start-up time (process start to ready), resident memory, and the cost
of a proxied request, and compare that cost with an empty database.

  bench/scale.py [--keys 1000000] [--users 100000] [--backend postgres|sqlite]

Rows are generated inside the database (generate_series / a recursive CTE) after
`purser migrate`, so filling it takes seconds; the keys' digests are random, so only the
one key created through the API can be used.
"""

import argparse
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (helpers shared with the main benchmark)
import pg  # noqa: E402  (on the path that bench sets)

ROOT = bench.ROOT
NOW_MS = 1_790_000_000_000
# Generated user i has id USER_ID_BASE + i and key i has KEY_ID_BASE + i: far below the ids
# Purser hands out (milliseconds since 2025 shifted left), so they never meet.
USER_ID_BASE = 5_000_000_000
KEY_ID_BASE = 6_000_000_000
# As users signed up through Purser would be: members of the default organization and team.
MEMBERSHIPS = f"""
INSERT INTO organization_members (org_id, user_id, role, created_at, updated_at)
  SELECT o.id, u.id, 'member', {NOW_MS}, {NOW_MS} FROM organizations o, users u WHERE o.is_default AND u.email LIKE 'scale-%';
INSERT INTO team_members (team_id, user_id, manager, created_at)
  SELECT t.id, u.id, FALSE, {NOW_MS} FROM teams t, users u WHERE t.is_default AND u.email LIKE 'scale-%';
"""
# Keys made through Purser are billed to a team, the Default Team unless asked otherwise.
DEFAULT_TEAM = "(SELECT id FROM teams WHERE is_default)"


def run_sql(database, sql):
    """Runs a script of SQL statements on a PostgreSQL database (a postgres:// URL) or an
    SQLite file."""
    if database.startswith("postgres"):
        subprocess.run(["psql", database, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)
    else:
        db = sqlite3.connect(database)
        db.executescript(sql)
        db.close()


def database_of(backend, data_dir, env):
    """Where Purser keeps its rows: the PostgreSQL URL it was given, or the SQLite file in its
    data directory."""
    return env["PURSER__DATABASE__URL"] if backend == "postgres" else os.path.join(data_dir, "purser.db")


def fill(backend, database, users, keys, model_id, team=False):
    """Adds `users` users and `keys` keys for model `model_id`, key i owned by user i % users.
    With `team`, the keys are billed to the Default Team (as keys made through Purser are);
    without, to no team."""
    team_id = DEFAULT_TEAM if team else "NULL"
    if backend == "postgres":
        fill_postgres(database, users, keys, model_id, team_id)
    else:
        fill_sqlite(database, users, keys, model_id, team_id)


def fill_postgres(url, users, keys, model_id, team_id):
    run_sql(url, f"""
BEGIN;
INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at)
  SELECT {USER_ID_BASE} + i, 'scale-' || i || '@example.com', 'Scale ' || i, NULL, 'user', TRUE, {NOW_MS}, {NOW_MS}
  FROM generate_series(1, {users}) AS i;
INSERT INTO api_keys (id, user_id, name, secret_hash, prefix, last4, spend, created_at, updated_at, team_id)
  SELECT {KEY_ID_BASE} + i, {USER_ID_BASE} + 1 + (i % {users}), 'key ' || i, lpad(to_hex(i), 64, '0'), 'sk-prs-scal', lpad((i % 10000)::text, 4, '0'), 0, {NOW_MS}, {NOW_MS}, {team_id}
  FROM generate_series(1, {keys}) AS i;
INSERT INTO api_key_models (key_id, model_id) SELECT {KEY_ID_BASE} + i, {model_id} FROM generate_series(1, {keys}) AS i;
{MEMBERSHIPS}
COMMIT;
ANALYZE;
""")


def fill_sqlite(path, users, keys, model_id, team_id):
    run_sql(path, f"""
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at)
  SELECT {USER_ID_BASE} + i, 'scale-' || i || '@example.com', 'Scale ' || i, NULL, 'user', 1, {NOW_MS}, {NOW_MS} FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {keys})
INSERT INTO api_keys (id, user_id, name, secret_hash, prefix, last4, spend, created_at, updated_at, team_id)
  SELECT {KEY_ID_BASE} + i, {USER_ID_BASE} + 1 + (i % {users}), 'key ' || i, printf('%064x', i), 'sk-prs-scal', printf('%04d', i % 10000), 0, {NOW_MS}, {NOW_MS}, {team_id} FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {keys})
INSERT INTO api_key_models (key_id, model_id) SELECT {KEY_ID_BASE} + i, {model_id} FROM n;
{MEMBERSHIPS}
COMMIT;
""")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_timed(data_dir, env, port):
    """Starts `purser serve`; returns the process and the seconds until /ready answered."""
    # (PURSER_BIN picks another build, as for bench.start_purser.)
    binary = os.environ.get("PURSER_BIN") or os.path.join(ROOT, "target", "release", "purser")
    log = open(os.path.join(data_dir, "serve.log"), "w")
    started = time.monotonic()
    proc = subprocess.Popen([binary, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    bench.wait_http(f"http://127.0.0.1:{port}/ready", proc, seconds=300)
    return proc, time.monotonic() - started


@contextlib.contextmanager
def scratch(backend, pg_admin):
    """A fresh data directory and, on PostgreSQL, a fresh database on the server of
    `pg_admin`, both removed afterwards. Yields the directory and the environment to run
    Purser with."""
    data = tempfile.mkdtemp(prefix="purser-scale-", dir=bench.TMP)
    env = dict(os.environ, PURSER__LOG__LEVEL="warn")
    env.pop("RUST_LOG", None)
    database = None
    try:
        if backend == "postgres":
            database = pg.create_database(pg_admin, "purser_scale_")
            env["PURSER__DATABASE__URL"] = pg.database_url(pg_admin, database)
        yield data, env
    finally:
        if database:
            pg.drop_database(pg_admin, database)
        shutil.rmtree(data, ignore_errors=True)


def measure(label, backend, keys, users, upstream_port, seconds, rounds, pg_admin):
    with scratch(backend, pg_admin) as (data, env):
        # A first start creates the schema, the admin, the model and the key used below.
        proc, base, key = bench.start_purser({"bench": upstream_port}, env.get("PURSER__DATABASE__URL"), data_dir=data)
        model_id = bench.api(base, "/api/v1/models", None, bench.admin_token(base))["data"][0]["id"]
        bench.stop(proc)
        fill_started = time.monotonic()
        if keys:
            fill(backend, database_of(backend, data, env), users, keys, model_id)
        filled = time.monotonic() - fill_started
        port = bench.free_port()
        proc, startup = start_timed(data, env, port)
        rss_ready = rss_mib(proc.pid)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        result = bench.measure(label, url, proc.pid, key, seconds, rounds)
        result.update(startup_s=startup, rss_ready_mib=rss_ready, fill_s=filled, keys=keys, users=users)
        bench.stop(proc)
        return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    bench.TMP = tempfile.mkdtemp(prefix="scale-")
    upstream_port = bench.free_port()
    nginx = bench.start_nginx(upstream_port)
    try:
        rows = []
        for keys, users in ((0, 0), (args.keys, args.users)):
            label = f"{keys:,} keys, {users:,} users"
            print(f"== {label} ({args.backend})", flush=True)
            rows.append(measure(label, args.backend, keys, users, upstream_port, args.seconds, args.rounds, args.postgres))
        lines = [
            "| database | start-up to ready | RSS when ready | peak RSS | req/s c=32 | CPU µs / req (c=32) | p50 c=1 |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append("| {} | {:.2f} s | {:.0f} MiB | {:.0f} MiB | {:,.0f} | {:.0f} | {:.3f} ms |".format(
                r["name"], r["startup_s"], r["rss_ready_mib"], r["rss_mib"], r[32]["rps"], r[32]["cpu_us_per_req"], r[1]["p50_us"] / 1000))
        report = "\n".join(lines)
        print()
        print(report)
        print(f"\n{args.backend}; {os.cpu_count()} cores; rows generated in {rows[1]['fill_s']:.0f} s; "
              "p50 is Purser's whole latency at c=1 (nginx behind it); each figure the median of the rounds")
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", f"scale-{args.backend}.md"), "w") as f:
            f.write(report + "\n")
    finally:
        bench.stop(nginx)
        shutil.rmtree(bench.TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
