#!/usr/bin/env python3
"""Vault token exchanges: RFC 7523 client assertions in, vault tokens out.

A service client of the Default Organization registers its own Ed25519 key and gets the
`writer` role on a vault. Assertions are signed beforehand with PyJWT (each with its own
`jti`, so replay protection is on and every one is accepted once) and sent by wrk at
--connections (default 32) to `POST /api/v1/token`, for --seconds per round. Each
answer is a signed access token plus a stored refresh token; the assertion's `jti` is
stored until it expires. Reported per backend: exchanges per second and wrk's p50 and p99
(median of --rounds), Purser's CPU per exchange, and (PostgreSQL) the database server's.
The target: 3,000/s with p99 under 20 ms on SQLite and on PostgreSQL. Then the JWKS
(`/.well-known/jwks.json`, answered from memory) at the same concurrency.

  .venv/bin/python bench/vault_tokens.py [--backend sqlite|postgres|both] [--seconds 10]
                                         [--rounds 3] [--connections 32]

Needs wrk, PyJWT and cryptography (scripts/requirements.txt, in .venv) and a release
build (target/release/purser, or PURSER_BIN).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (helpers shared with the main benchmark)
import scale  # noqa: E402  (scratch data directory and database)

TARGET_RPS = 3000
TARGET_P99_MS = 20
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Most exchanges a second we prepare assertions for; more would replay (and be refused).
CEILING_RPS = 8000

LUA = """
local bodies = {}
local sent = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  local nthreads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then bodies[#bodies + 1] = line end
    i = i + 1
  end
end
function request()
  sent = sent + 1
  return wrk.format("POST", "/api/v1/token", {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[sent] or bodies[1])
end
done = function(summary, latency, requests)
  io.write(string.format("STATS %d %d %d %f %f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def setup(base):
    """A client with its own key and a writer grant on a new vault; returns what signing needs."""
    token = bench.admin_token(base)
    orgs = bench.api(base, "/api/v1/organizations", None, token)["data"]
    org = next(o for o in orgs if o["isDefault"])["id"]
    vault = bench.api(base, f"/api/v1/organizations/{org}/vaults", {"name": "bench"}, token)["id"]
    client = bench.api(base, f"/api/v1/organizations/{org}/clients", {"name": "bench"}, token)["id"]
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    cert = bench.api(base, f"/api/v1/organizations/{org}/clients/{client}/certificates", {"name": "bench", "publicKey": pem}, token)
    bench.send(base, "PUT", f"/api/v1/organizations/{org}/vaults/{vault}/grants/clients/{client}", {"role": "writer"}, token)
    endpoint = bench.api(base, "/.well-known/oauth-authorization-server")["token_endpoint"]
    return {"key": key, "kid": cert["certificate"]["kid"], "client": client, "vault": vault, "endpoint": endpoint}


def assertions(who, count, path):
    """`count` form bodies, each with a freshly signed assertion, one per line."""
    now = int(time.time())
    prefix = "grant_type=client_credentials&client_assertion_type=%s&vault_id=%s&client_assertion=" % (
        urllib.parse.quote(ASSERTION_TYPE, safe=""), who["vault"])
    with open(path, "w") as f:
        for _ in range(count):
            claims = {"iss": who["client"], "sub": who["client"], "aud": who["endpoint"], "iat": now, "exp": now + 280, "jti": uuid.uuid4().hex}
            f.write(prefix + jwt.encode(claims, who["key"], algorithm="EdDSA", headers={"kid": who["kid"]}) + "\n")


def run_wrk(base, script, bodies, connections, seconds):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script, base, "--", bodies, "2"],
                         capture_output=True, text=True, check=True).stdout
    requests, errors, duration_us, p50, p99 = out.split("STATS ")[1].split()
    return {"requests": int(requests), "errors": int(errors), "rps": int(requests) / (int(duration_us) / 1e6),
            "p50_ms": float(p50) / 1000, "p99_ms": float(p99) / 1000}


def measure(backend, args, pg_admin):
    with scale.scratch(backend, pg_admin) as (data, env):
        proc, base, _ = start(data, env)
        try:
            who = setup(base)
            script = os.path.join(data, "token.lua")
            with open(script, "w") as f:
                f.write(LUA)
            bodies = os.path.join(data, "bodies.txt")
            assertions(who, 2 * CEILING_RPS, bodies)
            run_wrk(base, script, bodies, args.connections, 2)  # warm-up
            rounds = []
            for _ in range(args.rounds):
                assertions(who, args.seconds * CEILING_RPS, bodies)
                cpu = bench.cpu_seconds(proc.pid)
                db_cpu = bench.postgres_cpu_seconds() if backend == "postgres" else 0
                r = run_wrk(base, script, bodies, args.connections, args.seconds)
                r["cpu_us"] = (bench.cpu_seconds(proc.pid) - cpu) / max(r["requests"], 1) * 1e6
                r["db_cpu_us"] = ((bench.postgres_cpu_seconds() - db_cpu) / max(r["requests"], 1) * 1e6) if backend == "postgres" else None
                rounds.append(r)
            jwks = bench.wrk(base + "/.well-known/jwks.json", args.connections, 5)
        finally:
            bench.stop(proc)
    errors = sum(r["errors"] for r in rounds)
    pick = lambda k: bench.median([r[k] for r in rounds])  # noqa: E731
    return {"backend": backend, "rps": pick("rps"), "p50_ms": pick("p50_ms"), "p99_ms": pick("p99_ms"), "cpu_us": pick("cpu_us"),
            "db_cpu_us": pick("db_cpu_us") if backend == "postgres" else None, "errors": errors, "jwks_rps": jwks["rps"], "jwks_p99_ms": jwks["p99_us"] / 1000}


def start(data, env):
    """Purser on `data` with an admin; as bench.start_purser, without models."""
    binary = os.environ.get("PURSER_BIN") or os.path.join(bench.ROOT, "target", "release", "purser")
    subprocess.run([binary, "admin", "create", "--data-dir", data, "--email", "bench@example.com", "--password", "bench password 123"],
                   env=env, check=True, capture_output=True)
    port = bench.free_port()
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "log"), "w"))
    base = f"http://127.0.0.1:{port}"
    bench.wait_http(base + "/ready", proc)
    return proc, base, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    bench.TMP = tempfile.mkdtemp(prefix="vault-tokens-bench-")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"| backend | exchanges/s (c={args.connections}) | p50 | p99 | Purser CPU / exchange | PostgreSQL CPU / exchange | refused | JWKS req/s (p99) |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for backend in backends:
        r = measure(backend, args, args.postgres)
        db = f"{r['db_cpu_us']:.0f} µs" if r["db_cpu_us"] is not None else "–"
        print(f"| {backend} | {r['rps']:,.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['cpu_us']:.0f} µs | {db} | {r['errors']} | {r['jwks_rps']:,.0f} ({r['jwks_p99_ms']:.1f} ms) |", flush=True)
        ok &= r["rps"] >= TARGET_RPS and r["p99_ms"] < TARGET_P99_MS and r["errors"] == 0
    print(f"\ntarget: at least {TARGET_RPS:,}/s with p99 under {TARGET_P99_MS} ms and nothing refused: {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
