#!/usr/bin/env python3
"""Checks the OpenAPI document against the OpenAPI 3 specification, then has schemathesis
send requests generated from it to every management route of the built binary:
examples, boundary values, and random valid and invalid input. It fails on any server
error (5xx), any status code or content type the document does not name for that route,
and any answer that does not match its documented schema.

Usage: scripts/api_fuzz.py [--postgres ADMIN_URL] [--bin-dir target/debug]
            [--examples N] [--seed N]
With --postgres, Purser runs on a fresh PostgreSQL database (created and dropped here);
otherwise on the embedded default (SQLite in a temporary data directory). The seed is
fixed by default, so a run repeats its cases; give another to explore further.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from openapi_spec_validator import validate

from e2e import ADMIN, api, check, checks, free_port, run, wait_ready
from pg import create_database, database_url, drop_database


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server to create a fresh database on")
    parser.add_argument("--bin-dir", default="target/debug")
    parser.add_argument("--examples", type=int, default=20, help="most generated cases per operation and phase")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()

    purser = os.path.join(args.bin_dir, "purser")
    spec = json.loads(subprocess.run([purser, "openapi"], capture_output=True, text=True, check=True).stdout)
    validate(spec)
    check("the OpenAPI document is valid OpenAPI 3", True)

    data_dir = tempfile.mkdtemp(prefix="purser-fuzz-")
    env = dict(os.environ, PURSER__LOG__LEVEL="warn")
    env.pop("RUST_LOG", None)
    database = None
    if args.postgres:
        database = create_database(args.postgres, "purser_fuzz_")
        env["PURSER__DATABASE__URL"] = database_url(args.postgres, database)
    backend = "postgres" if database else "sqlite"
    print(f"== schemathesis on {backend}", flush=True)
    server = None
    try:
        subprocess.run([purser, "admin", "create", "--data-dir", data_dir, "--email", ADMIN[0], "--password", ADMIN[1]],
                       env=env, check=True, capture_output=True)
        port = free_port()
        log = open(os.path.join(data_dir, "purser.log"), "w")
        server = subprocess.Popen([purser, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
                                  env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        status, session = api(base, "POST", "/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        token = session["accessToken"]
        # Something to find: a model, an organization with a team.
        api(base, "POST", "/api/v1/admin/models", {"name": "fuzzed", "provider": "mock", "capabilities": ["chat"]}, token)
        status, org = api(base, "POST", "/api/v1/organizations", {"name": "Fuzzed"}, token)
        check("the admin's organization is made", status == 201, str(org))
        api(base, "POST", f"/api/v1/organizations/{org['id']}/teams", {"name": "Fuzzed"}, token)

        fuzz = subprocess.run([
            os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", base + "/api/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--include-path-regex", "^/api/v1/",
            # Signing out, or ending its own session (which the stateful phase finds by
            # following the session list), would end the session every other case needs.
            "--exclude-path", "/api/v1/auth/logout",
            "--exclude-path", "/api/v1/auth/sessions/{id}",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", str(args.examples), "--seed", str(args.seed), "--generation-deterministic",
            "--no-color", "--output-truncate", "true",
        ], env=env)
        check(f"schemathesis finds no server error, undocumented status or content type, or schema mismatch ({backend})",
              fuzz.returncode == 0, f"exit code {fuzz.returncode}")
        check("the server stayed up", server.poll() is None)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if database:
            drop_database(args.postgres, database)
    print(f"== {backend}: {len(checks)} checks passed", flush=True)


if __name__ == "__main__":
    run(main)
