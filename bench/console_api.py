#!/usr/bin/env python3
"""The console's API calls at scale: with N keys (default 1,000,000) owned by M users
(default 100,000), as bench/scale.py makes them, and a million usage rows over the last 90
days, how long each API call of each console page takes: p50, p95 and max of sequential
requests on one keep-alive connection, after warm-ups. The issue's target is 100 ms at p95
for every call, on SQLite and on PostgreSQL.

  python3 bench/console_api.py [--backend sqlite|postgres|both] [--keys 1000000] [--users 100000]
                               [--usage-rows 1000000] [--user-rows N] [--requests 200] [--warmup 20] [--strict]

The signed-in user is one made through the API (sign-up, subscriptions, two keys billed to
the Default Team, limits of their own), with a heavy share of the usage rows (--user-rows,
default 2% of them: 20,000 of a million) so that their pages are not empty; the rest is
spread over the generated users' keys. The admin is the one bench.py creates. The calls are
those console/src/pages/ makes when a page opens, with its default period and page size;
for the organization's pages, the Default Organization and Team, of which every generated
user is a member. Rows are generated inside the database after `purser migrate`, as
scale.py does, and usage_daily is filled with the sums of usage_records, as the gateway
keeps it.

It prints a Markdown table for docs/benchmarks.md (also written to
bench/results/console-api.md) and the calls over 100 ms at p95; with --strict it exits 1 if
there are any. PURSER_BIN picks another build (default target/release/purser); PostgreSQL
is the server of --postgres, where a scratch database is made and dropped.
"""

import argparse
import datetime
import http.client
import math
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (helpers shared with the main benchmark)
import scale  # noqa: E402  (the generated users and keys, the scratch database)

TARGET_MS = 100
DAY_MS = 86_400_000
WINDOW_DAYS = 90
# Usage row i has id USAGE_ID_BASE + i, far below the ids Purser hands out (milliseconds
# since 2025 shifted left), so rows the gateway writes later never clash with them.
USAGE_ID_BASE = 7_000_000_000
USER = {"email": "console-user@example.com", "password": "console password 123", "name": "Console User"}
# The bench model's prices (bench.start_purser), in nano-dollars per token, as usage_records.cost counts.
INPUT_NANOS, OUTPUT_NANOS = 1000, 2000
PRICES = {"inputCostPerToken": "0.000001", "outputCostPerToken": "0.000002"}


def prepare(base):
    """Through the API, as people would: a second model and a restricted one, the measured
    user signed up and subscribed, with two keys and limits of their own. Returns the ids
    that the generated rows and the measured calls need."""
    admin = bench.admin_token(base)
    first = bench.api(base, "/api/v1/models", None, admin)["data"][0]  # bench.start_purser's
    second = bench.api(base, "/api/v1/admin/models", dict(PRICES, name="bench-large", provider="mock", capabilities=["chat"]), admin)
    # A restricted model's subscriptions wait for an admin: the admin's queue is not empty.
    restricted = bench.api(base, "/api/v1/admin/models",
                           dict(PRICES, name="bench-restricted", provider="mock", capabilities=["chat"], restricted=True), admin)
    bench.api(base, "/api/v1/auth/register", USER)
    token = bench.api(base, "/api/v1/auth/login", {"email": USER["email"], "password": USER["password"]})["accessToken"]
    for model in (first, second, restricted):
        bench.api(base, "/api/v1/subscriptions", {"modelId": model["id"]}, token)
    keys = [bench.api(base, "/api/v1/api-keys", {"name": name, "modelIds": [first["id"], second["id"]],
                                                  "maxBudget": "100", "budgetPeriod": "monthly"}, token)
            for name in ("laptop", "ci")]
    me = bench.api(base, "/api/v1/auth/me", None, token)
    bench.send(base, "PUT", f"/api/v1/users/{me['id']}/limits", {"maxBudget": "500", "budgetPeriod": "weekly"}, admin)
    org = next(o for o in bench.api(base, "/api/v1/organizations", None, admin)["data"] if o["isDefault"])
    return {
        "user": me["id"], "admin": bench.api(base, "/api/v1/auth/me", None, admin)["id"],
        "keys": [k["id"] for k in keys], "team": keys[0]["teamId"], "org": org["id"],
        "models": [(first["id"], first["name"]), (second["id"], second["name"])],
    }


def numbers(backend, count):
    """A CTE `n` of the integers 1..count (BIGINT: PostgreSQL's INTEGER overflows in the
    timestamps below)."""
    if backend == "postgres":
        return f"WITH n(i) AS (SELECT generate_series(1::bigint, {count}))"
    return f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})"


def usage_insert(backend, count, first_id, key, user, model, model_name, now_ms):
    """`count` usage rows, evenly spaced from now back over WINDOW_DAYS; `key`, `user`,
    `model` and `model_name` are SQL expressions of the row number i. Tokens, latency,
    streaming and estimates vary with i; every key is billed to the Default Team."""
    spacing = WINDOW_DAYS * DAY_MS // count
    return f"""
{numbers(backend, count)}
INSERT INTO usage_records (id, request_id, key_id, user_id, model_id, model_name, endpoint, prompt_tokens,
                           completion_tokens, cost, latency_ms, status, streamed, created_at, team_id, estimated)
  SELECT {first_id} + i, 'bench-' || ({first_id} + i), {key}, {user}, {model}, {model_name}, 'chat/completions',
         50 + i % 200, 20 + i % 100, {INPUT_NANOS} * (50 + i % 200) + {OUTPUT_NANOS} * (20 + i % 100), 200 + i % 800, 200,
         i % 3 = 0, {now_ms} - i * {spacing}, {scale.DEFAULT_TEAM}, i % 50 = 0
  FROM n;
"""


def fill_usage(backend, database, ids, keys, users, usage_rows, user_rows, now_ms):
    """The usage rows: `user_rows` of them the measured user's (over their two keys and two
    models), the rest one per generated key in turn (key i, owner i % users, as scale.py
    assigns them); then usage_daily and the keys' spend, as the gateway's writes keep them."""
    (model_a, name_a), (model_b, name_b) = ids["models"]
    key_a, key_b = ids["keys"]
    sql = "BEGIN;\n"
    if user_rows:
        sql += usage_insert(backend, user_rows, USAGE_ID_BASE, f"CASE WHEN i % 5 = 0 THEN {key_b} ELSE {key_a} END", ids["user"],
                            f"CASE WHEN i % 2 = 0 THEN {model_b} ELSE {model_a} END",
                            f"CASE WHEN i % 2 = 0 THEN '{name_b}' ELSE '{name_a}' END", now_ms)
    others = usage_rows - user_rows
    if others and keys:
        key = f"1 + (i - 1) % {keys}"
        sql += usage_insert(backend, others, USAGE_ID_BASE + user_rows, f"{scale.KEY_ID_BASE} + {key}",
                            f"{scale.USER_ID_BASE} + 1 + ({key}) % {users}", model_a, f"'{name_a}'", now_ms)
    # The sums per key, UTC day and model that insert_batch (crates/store/src/usage.rs) adds
    # to with every batch; the table is empty before (no request went through the gateway).
    sql += """
INSERT INTO usage_daily (key_id, day, model_id, user_id, team_id, requests, prompt_tokens, completion_tokens, cost)
  SELECT key_id, created_at - created_at % 86400000, model_id, MAX(user_id), MAX(team_id), COUNT(*),
         SUM(prompt_tokens), SUM(completion_tokens), SUM(cost)
  FROM usage_records GROUP BY key_id, created_at - created_at % 86400000, model_id;
UPDATE api_keys SET spend = api_keys.spend + u.cost, last_used_at = u.last_used
  FROM (SELECT key_id, SUM(cost) AS cost, MAX(created_at) AS last_used FROM usage_records GROUP BY key_id) AS u
  WHERE api_keys.id = u.key_id;
COMMIT;
"""
    scale.run_sql(database, sql)
    if backend == "postgres":
        # A server that has been running would have vacuumed and analysed these tables by
        # now; without it, autovacuum would start on them in the middle of the measurement.
        # (SQLite has no statistics unless asked, and Purser never asks.)
        scale.run_sql(database, "VACUUM ANALYZE")


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query(path, **params):
    return path + "?" + urllib.parse.urlencode(params) if params else path


def pages(ids, totals, now_ms):
    """The console's pages, each with the calls it makes when opened (console/src/pages/),
    as (page, who is signed in, [path]). Pages within pages (an organization's tabs, dialogs,
    the pager's last page) count as pages of their own."""
    org, team = ids["org"], ids["team"]
    model, _ = ids["models"][0]
    subscriptions = query("/api/v1/subscriptions", limit=100)  # lib/queries.ts, on several pages
    members = f"/api/v1/organizations/{org}/members"
    team_members = f"/api/v1/organizations/{org}/teams/{team}/members"
    listed = [
        ("Every page", "user", ["/api/v1/auth/me"]),
        ("Home", "user", ["/api/v1/usage/budgets", query("/api/v1/usage/records", limit=5)]),
    ]
    # Usage.tsx's presets: the period ends now; hours for a day, days beyond. 30 days is the default.
    for preset, days in (("30 days", 30), ("24 hours", 1), ("90 days", 90)):
        period = {"from": iso(now_ms - days * DAY_MS), "to": iso(now_ms)}
        listed.append((f"Usage, {preset}", "user", [
            query("/api/v1/usage/summary", **period),
            query("/api/v1/usage/timeseries", **period, bucket="hour" if days <= 2 else "day"),
            query("/api/v1/usage/records", **period, page=1, limit=20),
        ]))
    listed += [
        ("Models", "user", [query("/api/v1/models", page=1, limit=20), query("/api/v1/models", limit=100)]),
        ("Model", "user", [f"/api/v1/models/{model}", subscriptions]),
        ("Subscriptions", "user", [subscriptions]),
        ("API keys", "user", [query("/api/v1/api-keys", limit=100), subscriptions]),
        ("API keys, new key", "user", [query("/api/v1/organizations", limit=100), query(f"/api/v1/organizations/{org}/teams", limit=100)]),
        ("Playground", "user", [subscriptions, f"/api/v1/models/{model}"]),
        ("Organizations", "user", [query("/api/v1/organizations", page=1, limit=20)]),
        # A member who may gain permissions through teams reads them off every team (useDelegated).
        ("Organization (member), every tab", "user", [f"/api/v1/organizations/{org}", query(f"/api/v1/organizations/{org}/teams", page=1, limit=100)]),
        ("Organization (member), members", "user", [query(members, page=1, limit=20)]),
        ("Organization (member), teams", "user", [query(f"/api/v1/organizations/{org}/teams", page=1, limit=20)]),
        ("Organization (member), Default Team", "user", [
            f"/api/v1/organizations/{org}/teams/{team}", query(team_members, page=1, limit=100), query(team_members, page=1, limit=20)]),
        ("Account", "user", ["/api/v1/auth/emails", "/api/v1/auth/sessions"]),
        ("Admin: models", "admin", [query("/api/v1/models", page=1, limit=20)]),
        # Each row names its user (UserName in admin/shared.tsx).
        ("Admin: subscriptions", "admin", [query("/api/v1/admin/subscriptions", status="pending", page=1, limit=20), f"/api/v1/users/{ids['user']}"]),
        ("Admin: users", "admin", [query("/api/v1/users", page=1, limit=20)]),
        ("Admin: users, search", "admin", [query("/api/v1/users", search="console-user", page=1, limit=20)]),
        ("Admin: users, last page", "admin", [query("/api/v1/users", page=math.ceil(totals["users"] / 20), limit=20)]),
        ("Admin: users, limits", "admin", [f"/api/v1/users/{ids['user']}/limits"]),
        ("Admin: organizations", "admin", [query("/api/v1/organizations", all="true", page=1, limit=20)]),
        ("Admin: audit", "admin", [query("/api/v1/admin/audit", page=1, limit=20), f"/api/v1/users/{ids['admin']}"]),
        ("Organization (admin), every tab", "admin", [f"/api/v1/organizations/{org}"]),
        ("Organization (admin), members", "admin", [query(members, page=1, limit=20)]),
        ("Organization (admin), members, last page", "admin", [query(members, page=math.ceil(totals["members"] / 20), limit=20)]),
        ("Organization (admin), invitations", "admin", [query(f"/api/v1/organizations/{org}/invitations", page=1, limit=20)]),
        ("Organization (admin), teams", "admin", [query(f"/api/v1/organizations/{org}/teams", page=1, limit=20)]),
        # Each entry names its actor while they are a member.
        ("Organization (admin), audit", "admin", [query(f"/api/v1/organizations/{org}/audit-logs", page=1, limit=20), f"{members}/{ids['admin']}"]),
        ("Organization (admin), Default Team", "admin", [
            f"/api/v1/organizations/{org}/teams/{team}", query(team_members, page=1, limit=100), query(team_members, page=1, limit=20)]),
    ]
    return listed


def label(path, ids, now_ms):
    """The call as shown in the table: ids and times by name, so that rows of different
    runs and backends match."""
    shown = urllib.parse.unquote(path)
    names = {ids["org"]: "{org}", ids["team"]: "{team}", ids["user"]: "{user}", ids["admin"]: "{admin}", ids["models"][0][0]: "{model}"}
    for days in (1, 30, 90):
        names[iso(now_ms - days * DAY_MS)] = f"now-{days}d"
    names[iso(now_ms)] = "now"
    for value, name in names.items():
        shown = shown.replace(str(value), name)
    return shown


def percentile(ordered, q):
    """The nearest-rank q-quantile of sorted values."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def time_call(conn, path, token, warmup, requests):
    """p50, p95 and max in ms of `requests` sequential GETs after `warmup` more, each timed
    from sending the request to having read the whole answer."""
    headers = {"authorization": "Bearer " + token}
    times = []
    for n in range(warmup + requests):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:500]!r}")
        if n >= warmup:
            times.append(elapsed)
    times.sort()
    return {"p50": percentile(times, 0.5), "p95": percentile(times, 0.95), "max": times[-1]}


def run(backend, args):
    """Builds the data set on `backend`, starts Purser on it and times every page's calls.
    Returns {(page, call): figures} and a line about the data set."""
    with scale.scratch(backend, args.postgres) as (data, env):
        # Access tokens outlive the run (15 minutes by default; a full-size run is longer).
        env["PURSER__AUTH__ACCESS_TOKEN_TTL_SECS"] = "86400"
        # The first start creates the schema and the admin (bench.start_purser), and the
        # user, models and keys are made through the API; nothing listens at the bench
        # model's upstream, which no call here reaches.
        proc, base, _ = bench.start_purser({"bench": bench.free_port()}, env.get("PURSER__DATABASE__URL"), data_dir=data)
        try:
            ids = prepare(base)
        finally:
            bench.stop(proc)
        print(f"== {backend}: generating {args.keys:,} keys, {args.users:,} users and {args.usage_rows:,} usage rows "
              f"({args.user_rows:,} of them the measured user's)", flush=True)
        started = time.monotonic()
        database = scale.database_of(backend, data, env)
        if args.keys:
            scale.fill(backend, database, args.users, args.keys, ids["models"][0][0], team=True)
        fill_usage(backend, database, ids, args.keys, args.users, args.usage_rows, args.user_rows, int(time.time() * 1000))
        filled = time.monotonic() - started
        port = bench.free_port()
        proc, startup = scale.start_timed(data, env, port)
        try:
            bench.settle(proc.pid)  # start-up work (loading every key) must not land in a measured call
            base = f"http://127.0.0.1:{port}"
            tokens = {
                "admin": bench.admin_token(base),
                "user": bench.api(base, "/api/v1/auth/login", {"email": USER["email"], "password": USER["password"]})["accessToken"],
            }
            totals = {
                "users": bench.api(base, query("/api/v1/users", limit=1), None, tokens["admin"])["pagination"]["total"],
                "members": bench.api(base, query(f"/api/v1/organizations/{ids['org']}/members", limit=1), None, tokens["admin"])["pagination"]["total"],
            }
            # The console picks its periods when a page opens; so does this run, once.
            now_ms = int(time.time() * 1000)
            # Purser must see the generated rows as its own, or the figures mean nothing.
            seen = bench.api(base, query("/api/v1/usage/summary", **{"from": iso(now_ms - (WINDOW_DAYS + 1) * DAY_MS), "to": iso(now_ms)}),
                             None, tokens["user"])["totals"]["requests"]
            if seen != args.user_rows or totals["users"] < args.users:
                raise SystemExit(f"{backend}: Purser sees {seen} usage rows of the user's (not {args.user_rows}) and {totals['users']} users")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            results, timed = {}, {}
            for page, who, paths in pages(ids, totals, now_ms):
                for path in paths:
                    call = label(path, ids, now_ms)
                    # A call several pages make is timed once.
                    if (who, path) not in timed:
                        timed[(who, path)] = time_call(conn, path, tokens[who], args.warmup, args.requests)
                        r = timed[(who, path)]
                        print(f"   {backend}: {call} ({who}): p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, max {r['max']:.1f} ms", flush=True)
                    results[(page, call)] = timed[(who, path)]
            conn.close()
        finally:
            bench.stop(proc)
        note = f"{backend}: rows generated in {filled:.0f} s, ready {startup:.1f} s after start"
        return results, note


def cell(r):
    if r is None:
        return "—"
    p95 = f"**{r['p95']:.1f}**" if r["p95"] > TARGET_MS else f"{r['p95']:.1f}"
    return f"{r['p50']:.1f} / {p95} / {r['max']:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--usage-rows", type=int, default=1_000_000)
    parser.add_argument("--user-rows", type=int, help="of the usage rows, the measured user's (default 2%%)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per call")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per call before them")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 if any call's p95 is over {TARGET_MS} ms")
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if args.user_rows is None:
        args.user_rows = args.usage_rows // 50
    args.user_rows = min(args.user_rows, args.usage_rows)
    if args.keys and not args.users:
        parser.error("--keys needs --users to own them")
    binary = os.environ.get("PURSER_BIN") or os.path.join(bench.ROOT, "target", "release", "purser")
    if not os.path.exists(binary):
        parser.error(f"no Purser at {binary}: build it (cargo build --release --bin purser) or set PURSER_BIN")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    bench.TMP = tempfile.mkdtemp(prefix="console-api-")
    try:
        runs, notes = {}, []
        for backend in backends:
            runs[backend], note = run(backend, args)
            notes.append(note)
    finally:
        shutil.rmtree(bench.TMP, ignore_errors=True)

    rows = list(dict.fromkeys(key for results in runs.values() for key in results))
    lines = [
        "| page | API call | " + " | ".join(f"{names[b]} p50 / p95 / max (ms)" for b in backends) + " |",
        "|---|---|" + "---:|" * len(backends),
    ]
    previous = None
    for page, call in rows:
        shown = page if page != previous else ""
        previous = page
        lines.append(f"| {shown} | `GET {call}` | " + " | ".join(cell(runs[b].get((page, call))) for b in backends) + " |")
    # (A call on several pages is named once.)
    over = list(dict.fromkeys(f"{names[b]}: GET {call} ({r['p95']:.1f} ms)" for b in backends
                              for (_, call), r in runs[b].items() if r["p95"] > TARGET_MS))
    report = "\n".join(lines)
    summary = (f"{args.keys:,} keys, {args.users:,} users, {args.usage_rows:,} usage rows over {WINDOW_DAYS} days "
               f"({args.user_rows:,} the signed-in user's); {args.requests} sequential requests per call on one keep-alive "
               f"connection after {args.warmup} warm-ups; {os.cpu_count()} cores; {os.path.relpath(binary, bench.ROOT)}; " + "; ".join(notes))
    verdict = (f"p95 over {TARGET_MS} ms: " + "; ".join(over)) if over else f"Every call's p95 is within {TARGET_MS} ms."
    print()
    print(report)
    print()
    print(summary)
    print(verdict)
    os.makedirs(os.path.join(bench.ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(bench.ROOT, "bench", "results", "console-api.md"), "w") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {summary}\n\n{report}\n\n{verdict}\n")
    if args.strict and over:
        sys.exit(1)


if __name__ == "__main__":
    main()
