#!/usr/bin/env python3
"""Drives Purser's whole main path over HTTP, with the official OpenAI Python client for
the gateway, against the built binaries:

    admin adds models -> user registers, logs in, browses the catalog, subscribes,
    creates an API key -> chat completions plain and streamed through the gateway ->
    usage totals match what the upstream reported;
    a service client registers its own Ed25519 key, signs an RFC 7523 assertion with PyJWT
    and gets a vault token that PyJWT verifies with Purser's published JWKS.

Usage: scripts/e2e.py [--postgres ADMIN_URL] [--bin-dir target/debug]
With --postgres, Purser runs on a fresh PostgreSQL database (created and dropped here);
otherwise on the embedded default (SQLite in a temporary data directory).
"""

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt
import openai
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pg import create_database, database_url, drop_database

UPSTREAM_KEY = "upstream-" + secrets.token_hex(8)
ADMIN = ("admin@example.com", "admin password 123")
USER = ("ada@example.com", "correct horse battery")
checks = []


def check(name, ok, detail=""):
    checks.append((name, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(' - ' + detail) if detail and not ok else ''}", flush=True)
    if not ok:
        raise SystemExit(f"e2e failed at: {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def form(base, path, fields):
    request = urllib.request.Request(base + path, data=urllib.parse.urlencode(fields).encode(), method="POST")
    request.add_header("content-type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def vault_tokens_with_pyjwt(base, token):
    """A client's own key, an assertion signed by PyJWT, a vault token PyJWT verifies."""
    status, orgs = api(base, "GET", "/api/v1/organizations", token=token)
    org = next(o for o in orgs["data"] if o["isDefault"])["id"]
    status, vault = api(base, "POST", f"/api/v1/organizations/{org}/vaults", {"name": "e2e"}, token)
    check("admin creates a vault", status == 201, str(vault))
    status, client = api(base, "POST", f"/api/v1/organizations/{org}/clients", {"name": "e2e-service"}, token)
    check("admin creates a service client", status == 201, str(client))
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    status, cert = api(base, "POST", f"/api/v1/organizations/{org}/clients/{client['id']}/certificates", {"name": "own", "publicKey": pem}, token)
    check("the client's own public key is registered", status == 201 and cert["privateKey"] is None, str(cert))
    grant = f"/api/v1/organizations/{org}/vaults/{vault['id']}/grants/clients/{client['id']}"
    status, _ = api(base, "PUT", grant, {"role": "writer"}, token)
    check("the client gets a role on the vault", status == 200)
    status, meta = api(base, "GET", "/.well-known/oauth-authorization-server")
    check("RFC 8414 metadata names the token endpoint", status == 200 and meta["token_endpoint"].endswith("/api/v1/token"), str(meta))
    now = int(time.time())
    claims = {"iss": client["id"], "sub": client["id"], "aud": meta["token_endpoint"], "iat": now, "exp": now + 60, "jti": secrets.token_hex(16)}
    assertion = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": cert["certificate"]["kid"]})
    fields = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
              "client_assertion": assertion, "vault_id": vault["id"]}
    status, issued = form(base, "/api/v1/token", fields)
    check("a PyJWT assertion is exchanged for a vault token", status == 200 and issued["vault_role"] == "writer", str(issued))
    jwks = jwt.PyJWKClient(base + "/.well-known/jwks.json")
    signing_key = jwks.get_signing_key_from_jwt(issued["access_token"])
    verified = jwt.decode(issued["access_token"], signing_key.key, algorithms=["EdDSA"], audience="purser-vaults", issuer=meta["issuer"])
    check("PyJWT verifies the vault token with the published JWKS",
          verified["sub"] == f"client:{client['id']}" and verified["vault_id"] == vault["id"] and verified["vault_role"] == "writer", str(verified))
    status, replay = form(base, "/api/v1/token", fields)
    check("the same assertion again is refused", status == 400 and replay["error"] == "invalid_client", str(replay))
    status, rotated = form(base, "/api/v1/token", {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    check("the refresh token is exchanged once", status == 200, str(rotated))
    status, reused = form(base, "/api/v1/token", {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    check("a used refresh token is refused", status == 400 and reused["error"] == "invalid_grant", str(reused))


def run(main):
    """Runs a script's `main`: a failed check exits 1 with its message on stderr."""
    try:
        main()
    except SystemExit as e:
        if e.code not in (None, 0):
            print(e.code, file=sys.stderr)
            sys.exit(1)


def wait_ready(base, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"purser exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("purser did not become ready")


def mail_goes_out_over_smtp(purser_bin, data_dir, env):
    """With mail.smtp_url set, the verification mail goes to a real SMTP server (aiosmtpd)."""
    import mailbox
    smtp_port, port = free_port(), free_port()
    maildir = os.path.join(data_dir, "maildir")
    smtp = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Mailbox", maildir])
    # The SMTP server must listen before Purser's first attempt, or that mail waits for a retry.
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    env = dict(env)
    env["PURSER__MAIL__SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    env["PURSER__MAIL__FROM"] = "Purser <purser@e2e.example>"
    log = open(os.path.join(data_dir, "purser-smtp.log"), "w")
    server = subprocess.Popen([purser_bin, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        status, _ = api(base, "POST", "/api/v1/auth/register", {"email": "smtp@e2e.example", "password": "correct horse battery", "name": "Mail"})
        check("registration over SMTP", status == 202)
        messages = []
        for _ in range(100):
            if os.path.isdir(os.path.join(maildir, "new")):
                messages = list(mailbox.Maildir(maildir, create=False))
            if messages:
                break
            time.sleep(0.1)
        check("the verification mail reached the SMTP server", len(messages) == 1 and messages[0]["To"] == "smtp@e2e.example", str([m["To"] for m in messages]))
        body = messages[0].get_payload(decode=True).decode()
        token = body.split("token=")[1].split()[0]
        status, verified = api(base, "POST", "/api/v1/auth/verify-email", {"token": token})
        check("its token verifies the address", status == 200 and verified["verified"] is True, str(verified))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        smtp.kill()


def two_processes_share_limits(purser_bin, data_dir, env):
    """Two Purser processes on one database and one Redis enforce one sign-in limit."""
    env = dict(env)
    env["PURSER__LIMITS__REDIS_URL"] = os.environ.get("PURSER_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    env["PURSER__LIMITS__REDIS_PREFIX"] = "purser-e2e-" + secrets.token_hex(6) + ":"
    env["PURSER__LIMITS__LOGIN_PER_IP__LIMIT"] = "3"
    servers, bases = [], []
    try:
        for _ in range(2):
            port = free_port()
            log = open(os.path.join(data_dir, f"purser-{port}.log"), "w")
            servers.append(subprocess.Popen([purser_bin, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log))
            bases.append(f"http://127.0.0.1:{port}")
        for base, server in zip(bases, servers):
            wait_ready(base, server)
        attempt = {"email": "mallory@example.com", "password": "guessing password"}
        statuses = [api(base, "POST", "/api/v1/auth/login", attempt)[0] for base in (bases[0], bases[1], bases[0], bases[1])]
        check("two processes sharing Redis enforce one sign-in limit", statuses == [401, 401, 401, 429], str(statuses))
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)


def token_of(base, user):
    status, session = api(base, "POST", "/api/v1/auth/login", {"email": user[0], "password": user[1]})
    return session["accessToken"]


def sigterm_under_load(base, server, token, model_id):
    """Sends SIGTERM while 16 clients keep calling the gateway; returns how many requests
    got a complete answer and the exit code."""
    status, key = api(base, "POST", "/api/v1/api-keys", {"name": "load", "modelIds": [model_id]}, token)
    body = json.dumps({"model": "mock-e2e", "messages": [{"role": "user", "content": "hi"}]}).encode()
    answered, stop = [0], threading.Event()
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            req = urllib.request.Request(base + "/v1/chat/completions", data=body, method="POST")
            req.add_header("content-type", "application/json")
            req.add_header("authorization", "Bearer " + key["key"])
            try:
                with urllib.request.urlopen(req, timeout=10) as reply:
                    if reply.status == 200 and json.loads(reply.read())["choices"]:
                        with lock:
                            answered[0] += 1
            except (OSError, ValueError):
                if server.poll() is not None:
                    return

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    return answered[0], code


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server to create a fresh database on")
    parser.add_argument("--bin-dir", default="target/debug")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="purser-e2e-")
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    database = None
    if args.postgres:
        database = create_database(args.postgres, "purser_e2e_")
        env["PURSER__DATABASE__URL"] = database_url(args.postgres, database)
    backend = "postgres" if database else "sqlite"
    print(f"== end to end on {backend}", flush=True)

    purser_bin = os.path.join(args.bin_dir, "purser")
    mock_port, port = free_port(), free_port()
    mock = subprocess.Popen([os.path.join(args.bin_dir, "purser-mock-upstream"), "--listen", f"127.0.0.1:{mock_port}", "--api-key", UPSTREAM_KEY])
    server = None
    try:
        migrated = subprocess.run([purser_bin, "migrate", "--data-dir", data_dir], env=env, capture_output=True, text=True)
        check("purser migrate", migrated.returncode == 0 and f"{backend} database is at schema version" in migrated.stdout, migrated.stderr)
        created = subprocess.run(
            [purser_bin, "admin", "create", "--data-dir", data_dir, "--email", ADMIN[0], "--password", ADMIN[1]],
            env=env, capture_output=True, text=True)
        check("purser admin create", created.returncode == 0 and "created platform admin" in created.stdout, created.stderr)

        log = open(os.path.join(data_dir, "purser.log"), "w")
        server = subprocess.Popen([purser_bin, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        check("purser serve is ready", True)

        status, admin = api(base, "POST", "/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        check("admin logs in", status == 200 and admin["user"]["role"] == "admin", str(admin))
        admin_token = admin["accessToken"]
        vault_tokens_with_pyjwt(base, admin_token)
        status, upstream_model = api(base, "POST", "/api/v1/admin/models", {
            "name": "llama-e2e", "provider": "vllm", "upstreamUrl": f"http://127.0.0.1:{mock_port}/v1",
            "upstreamModel": "meta/llama-upstream", "upstreamApiKey": UPSTREAM_KEY,
            "inputCostPerToken": "0.000001", "outputCostPerToken": "0.000002",
            "contextLength": 8192, "capabilities": ["chat"],
        }, admin_token)
        check("admin adds an upstream model", status == 201 and upstream_model["deployments"][0]["hasApiKey"], str(upstream_model))
        check("the upstream key is never returned", UPSTREAM_KEY not in json.dumps(upstream_model))
        status, mock_model = api(base, "POST", "/api/v1/admin/models", {
            "name": "mock-e2e", "provider": "mock", "inputCostPerToken": 0.0000005,
            "outputCostPerToken": "0.0000015", "capabilities": ["chat"],
        }, admin_token)
        check("admin adds a mock model", status == 201 and mock_model["mock"] is True, str(mock_model))

        status, user = api(base, "POST", "/api/v1/auth/register", {"email": USER[0], "password": USER[1], "name": "Ada"})
        check("user registers", status == 202, str(user))
        status, again = api(base, "POST", "/api/v1/auth/register", {"email": USER[0].upper(), "password": "someone else's pw", "name": "Eve"})
        check("a taken address is answered like a free one", status == 202 and again == user, str(again))
        if not database:
            private = {}
            for name in ["", "purser.db", "purser.db-wal", "purser.db-shm", "master.key", "mail", "mail/outbox.jsonl"]:
                path = os.path.join(data_dir, name)
                if os.path.exists(path):
                    private[name or "."] = os.stat(path).st_mode & 0o777
            expected = {name: 0o700 if name in (".", "mail") else 0o600 for name in private}
            check("the data directory and every file in it are private", private == expected and "mail/outbox.jsonl" in private,
                  str({k: oct(v) for k, v in private.items()}))
        status, session = api(base, "POST", "/api/v1/auth/login", {"email": USER[0], "password": USER[1]})
        check("user logs in", status == 200 and session["expiresIn"] == 900, str(session))
        token = session["accessToken"]
        status, me = api(base, "GET", "/api/v1/auth/me", token=token)
        check("GET /auth/me", status == 200 and me["email"] == USER[0])

        status, catalog = api(base, "GET", "/api/v1/models?search=e2e", token=token)
        names = sorted(m["name"] for m in catalog["data"])
        check("user sees the catalog", status == 200 and names == ["llama-e2e", "mock-e2e"], str(catalog))
        check("users do not see upstream details", all("upstream" not in m for m in catalog["data"]))

        for model in (upstream_model, mock_model):
            status, sub = api(base, "POST", "/api/v1/subscriptions", {"modelId": model["id"]}, token)
            check(f"subscribes to {model['name']}", status == 201 and sub["status"] == "active", str(sub))

        status, key = api(base, "POST", "/api/v1/api-keys", {"name": "e2e", "modelIds": [upstream_model["id"], mock_model["id"]]}, token)
        check("creates an API key", status == 201 and key["key"].startswith("sk-prs-"), str(key))
        status, keys = api(base, "GET", "/api/v1/api-keys", token=token)
        check("key lists show only prefix and last 4", key["key"] not in json.dumps(keys) and keys["data"][0]["keyLast4"] == key["key"][-4:])

        client = openai.OpenAI(api_key=key["key"], base_url=base + "/v1", max_retries=0)
        listed = sorted(m.id for m in client.models.list())
        check("OpenAI client lists the key's models", listed == ["llama-e2e", "mock-e2e"], str(listed))

        reported = {"prompt": 0, "completion": 0, "requests": 0, "cost": 0.0}

        def tally(usage, model):
            reported["prompt"] += usage.prompt_tokens
            reported["completion"] += usage.completion_tokens
            reported["requests"] += 1
            prices = {"llama-e2e": (1e-6, 2e-6), "mock-e2e": (5e-7, 1.5e-6)}[model]
            reported["cost"] += usage.prompt_tokens * prices[0] + usage.completion_tokens * prices[1]

        messages = [{"role": "user", "content": "Say something about governance please"}]
        reply = client.chat.completions.create(model="llama-e2e", messages=messages)
        check("plain chat completion", reply.choices[0].message.content.startswith("This is a canned answer") and reply.usage.prompt_tokens == 5, str(reply))
        tally(reply.usage, "llama-e2e")

        chunks = list(client.chat.completions.create(model="llama-e2e", messages=messages, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        check("streamed chat completion", text.startswith("This is a canned answer") and chunks[-1].choices[0].finish_reason == "stop", text)
        check("no usage chunk when the client did not ask", all(c.usage is None for c in chunks))
        reported["requests"] += 1  # tokens of this stream: same as the plain call
        reported["prompt"] += reply.usage.prompt_tokens
        reported["completion"] += reply.usage.completion_tokens
        reported["cost"] += reply.usage.prompt_tokens * 1e-6 + reply.usage.completion_tokens * 2e-6

        chunks = list(client.chat.completions.create(model="llama-e2e", messages=messages, stream=True, stream_options={"include_usage": True}))
        check("usage chunk when the client asked", chunks[-1].usage is not None and chunks[-1].choices == [])
        tally(chunks[-1].usage, "llama-e2e")

        mock_reply = client.chat.completions.create(model="mock-e2e", messages=messages)
        check("built-in mock model answers and says so", "mock" in mock_reply.choices[0].message.content)
        tally(mock_reply.usage, "mock-e2e")
        mock_chunks = list(client.chat.completions.create(model="mock-e2e", messages=messages, stream=True, stream_options={"include_usage": True}))
        check("built-in mock model streams", "mock" in "".join(c.choices[0].delta.content or "" for c in mock_chunks if c.choices))
        tally(mock_chunks[-1].usage, "mock-e2e")

        try:
            openai.OpenAI(api_key="sk-prs-" + "x" * 40, base_url=base + "/v1", max_retries=0).chat.completions.create(model="llama-e2e", messages=messages)
            check("unknown key is refused", False)
        except openai.AuthenticationError:
            check("unknown key raises AuthenticationError", True)
        try:
            client.chat.completions.create(model="no-such-model", messages=messages)
            check("unknown model is refused", False)
        except openai.NotFoundError:
            check("unknown model raises NotFoundError", True)

        status, limited = api(base, "POST", "/api/v1/api-keys", {"name": "tight", "modelIds": [mock_model["id"]], "rpmLimit": 1, "maxBudget": "1"}, token)
        tight = openai.OpenAI(api_key=limited["key"], base_url=base + "/v1", max_retries=0)
        tally(tight.chat.completions.create(model="mock-e2e", messages=messages).usage, "mock-e2e")
        try:
            tight.chat.completions.create(model="mock-e2e", messages=messages)
            check("rpm limit", False)
        except openai.RateLimitError as e:
            check("over RPM raises RateLimitError with Retry-After", e.response.headers.get("retry-after") is not None)
        try:
            tight.chat.completions.create(model="llama-e2e", messages=messages)
            check("model not on key", False)
        except openai.PermissionDeniedError:
            check("model not on the key raises PermissionDeniedError", True)

        expected_requests = reported["requests"]
        summary = None
        deadline = time.time() + 15
        while time.time() < deadline:
            status, summary = api(base, "GET", "/api/v1/usage/summary", token=token)
            # Usage is written off the request path; refused requests are not metered.
            if summary["totals"]["requests"] >= expected_requests:
                break
            time.sleep(0.2)
        totals = summary["totals"]
        check("usage counts every answered request", totals["requests"] == expected_requests, f"{totals} vs {reported}")
        check("usage tokens match what the upstream reported",
              totals["promptTokens"] == reported["prompt"] and totals["completionTokens"] == reported["completion"], f"{totals} vs {reported}")
        check("usage cost matches the prices", abs(float(totals["cost"]) - reported["cost"]) < 1e-8, f"{totals['cost']} vs {reported['cost']}")
        check("usage has a per-model breakdown", sorted(m["modelName"] for m in summary["byModel"]) == ["llama-e2e", "mock-e2e"])

        status, _ = api(base, "DELETE", f"/api/v1/api-keys/{key['id']}", token=token)
        try:
            client.chat.completions.create(model="llama-e2e", messages=messages)
            check("revoked key is refused", False)
        except openai.AuthenticationError:
            check("revoked key raises AuthenticationError at once", status == 204)

        status, _ = api(base, "POST", "/api/v1/auth/logout", token=token)
        status, after = api(base, "GET", "/api/v1/auth/me", token=token)
        check("logout ends the session at once", status == 401, str(after))
        status, spec = api(base, "GET", "/api/openapi.json")
        check("OpenAPI document is served", status == 200 and "/v1/chat/completions" in spec["paths"])
        with urllib.request.urlopen(urllib.request.Request(base + "/metrics", headers={"accept": "text/plain"})) as r:
            exposition = r.read()
        promtool = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True)
        check("promtool accepts /metrics", promtool.returncode == 0, (promtool.stdout + promtool.stderr).decode())
        with open(os.path.join(data_dir, "purser.log")) as f:
            logged = f.read()
        check("the log has no colour codes when it is not a terminal", "\x1b[" not in logged and "finished processing request" in logged)
        check("probes are not logged at info", "path=/ready" not in logged and "path=/api/openapi.json" in logged)

        answered, code = sigterm_under_load(base, server, token_of(base, USER), mock_model["id"])
        check("SIGTERM under load stops purser cleanly", code == 0, f"exit code {code}")
        server = subprocess.Popen([purser_bin, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
        wait_ready(base, server)
        status, summary = api(base, "GET", "/api/v1/usage/summary", token=token_of(base, USER))
        metered = summary["totals"]["requests"] - expected_requests
        check(f"all {answered} requests answered before SIGTERM have exactly one usage row", metered == answered and answered > 0,
              f"{answered} answered, {metered} metered")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server = None
        two_processes_share_limits(purser_bin, data_dir, env)
        mail_goes_out_over_smtp(purser_bin, data_dir, env)
    finally:
        if server is not None:
            server.kill()
        mock.kill()
        if database:
            drop_database(args.postgres, database)
    print(f"== {backend}: {len(checks)} checks passed", flush=True)


if __name__ == "__main__":
    run(main)
