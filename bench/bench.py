#!/usr/bin/env python3
"""The gateway benchmark: the same load, with the same load generator, against

  direct   a fast mock upstream (nginx answering a canned chat completion),
  purser   Purser in front of it, on SQLite and on PostgreSQL, with all governance on
           (key, team and user limits and budgets checked, every request metered),
  litellm  the LiteLLM proxy in front of it (config-file model, no database),

reporting requests/s at concurrency 1 and 32, latency added to the direct path (p50, p99
at concurrency 1), gateway CPU seconds per 1,000 requests and peak RSS.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the benchmark upstream."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
})
BODY = '{"model":"bench","messages":[{"role":"user","content":"Say hello to the benchmark please"}]}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited early ({proc.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def api(base, path, body=None, token=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None, method="POST" if body is not None else "GET")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def tree(pid):
    """The pid and all its descendants."""
    pids, frontier = [pid], [pid]
    while frontier:
        nxt = []
        for p in frontier:
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    nxt += [int(c) for c in f.read().split()]
            except OSError:
                pass
        pids += nxt
        frontier = nxt
    return pids


def cpu_seconds(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def peak_rss_mib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
    return total / 1024


def wrk(url, connections, seconds, key=None):
    script = os.path.join(TMP, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(BODY))
        if key:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % key)
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("STATS %d %d %d %f %f\\n", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))\n'
                'end\n')
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script, url], capture_output=True, text=True, check=True).stdout
    requests, errors, duration_us, p50, p99 = out.split("STATS ")[1].split()
    return {"requests": int(requests), "errors": int(errors), "rps": int(requests) / (int(duration_us) / 1e6), "p50_us": float(p50), "p99_us": float(p99)}


def measure(name, url, pid, key, seconds):
    wrk(url, 32, 2, key)  # warm up: connections, caches, JIT-free but allocator-warm
    result = {"name": name}
    for connections in (1, 32):
        before = cpu_seconds(pid) if pid else 0
        run = wrk(url, connections, seconds, key)
        spent = (cpu_seconds(pid) - before) if pid else 0
        if run["errors"]:
            print(f"   warning: {name} c={connections}: {run['errors']} errors", file=sys.stderr)
        result[connections] = run
        result[f"cpu_ms_per_1k_{connections}"] = spent / run["requests"] * 1e6 if pid else None
    result["rss_mib"] = peak_rss_mib(pid) if pid else None
    print(f"   {name}: {result[1]['rps']:.0f} req/s at c=1, {result[32]['rps']:.0f} req/s at c=32", flush=True)
    return result


def start_nginx(port):
    conf = os.path.join(TMP, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1; daemon off; pid {TMP}/nginx.pid; error_log {TMP}/nginx.log warn;
events {{ worker_connections 4096; }}
http {{ access_log off; keepalive_requests 10000000;
  server {{ listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{ANSWER}'; }} }} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc


def start_purser(upstream_port, database_url=None):
    data = tempfile.mkdtemp(prefix="purser-bench-", dir=TMP)
    env = dict(os.environ, PURSER__LOG__LEVEL="warn")
    env.pop("RUST_LOG", None)
    if database_url:
        env["PURSER__DATABASE__URL"] = database_url
    binary = os.path.join(ROOT, "target", "release", "purser")
    subprocess.run([binary, "admin", "create", "--data-dir", data, "--email", "bench@example.com", "--password", "bench password 123"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "log"), "w"))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", proc)
    token = api(base, "/api/v1/auth/login", {"email": "bench@example.com", "password": "bench password 123"})["accessToken"]
    model = api(base, "/api/v1/admin/models", {
        "name": "bench", "provider": "vllm", "upstreamUrl": f"http://127.0.0.1:{upstream_port}/v1",
        "inputCostPerToken": "0.000001", "outputCostPerToken": "0.000002", "capabilities": ["chat"],
    }, token)
    api(base, "/api/v1/subscriptions", {"modelId": model["id"]}, token)
    # All governance on: every limit set (high enough not to refuse the benchmark) is checked
    # on every request, on the key and on its team, and every request is metered.
    key = api(base, "/api/v1/api-keys", {
        "name": "bench", "modelIds": [model["id"]], "maxBudget": "1000000000", "rpmLimit": 10_000_000, "tpmLimit": 1_000_000_000,
    }, token)["key"]
    orgs = api(base, "/api/v1/organizations", None, token)["data"]
    default_org = next(o for o in orgs if o["isDefault"])["id"]
    team = api(base, f"/api/v1/organizations/{default_org}/teams", None, token)["data"][0]["id"]
    req = urllib.request.Request(base + f"/api/v1/organizations/{default_org}/teams/{team}", method="PATCH",
                                 data=json.dumps({"budget": "1000000000", "budgetPeriod": "monthly", "rpmLimit": 10_000_000, "tpmLimit": 1_000_000_000}).encode())
    req.add_header("content-type", "application/json")
    req.add_header("authorization", "Bearer " + token)
    urllib.request.urlopen(req, timeout=30)
    return proc, base, key


def start_litellm(upstream_port):
    conf = os.path.join(TMP, "litellm.yaml")
    with open(conf, "w") as f:
        f.write(f"""model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: unused
""")
    port = free_port()
    binary = os.path.join(ROOT, "bench", ".venv", "bin", "litellm")
    proc = subprocess.Popen([binary, "--config", conf, "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(TMP, "litellm.log"), "w"), env=dict(os.environ, LITELLM_LOG="ERROR"))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health/liveliness", proc, seconds=180)
    return proc, base


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def table(results, direct):
    lines = [
        "| target | req/s c=1 | req/s c=32 | % of direct (c=32) | added p50 c=1 | added p99 c=1 | CPU s / 1k req (c=32) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        added50 = r[1]["p50_us"] - direct[1]["p50_us"]
        added99 = r[1]["p99_us"] - direct[1]["p99_us"]
        cpu = r.get("cpu_ms_per_1k_32")
        lines.append("| {} | {:,.0f} | {:,.0f} | {:.0f}% | {} | {} | {} | {} |".format(
            r["name"], r[1]["rps"], r[32]["rps"], 100 * r[32]["rps"] / direct[32]["rps"],
            "—" if r is direct else f"{added50 / 1000:.3f} ms", "—" if r is direct else f"{added99 / 1000:.3f} ms",
            "—" if cpu is None else f"{cpu / 1000:.3f} ({cpu:.0f} µs/req)",
            "—" if r["rss_mib"] is None else f"{r['rss_mib']:.0f} MiB"))
    return "\n".join(lines)


def main():
    global TMP
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    seconds = 5 if args.quick else 10
    TMP = tempfile.mkdtemp(prefix="bench-")
    procs, database = [], None
    try:
        upstream = free_port()
        procs.append(start_nginx(upstream))
        direct_url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
        print("== measuring", flush=True)
        results = [measure("mock upstream, direct (nginx)", direct_url, None, None, seconds)]
        proc, base, key = start_purser(upstream)
        procs.append(proc)
        results.append(measure("Purser, SQLite", base + "/v1/chat/completions", proc.pid, key, seconds))
        stop(proc)
        if not args.no_postgres:
            database = "purser_bench_" + secrets.token_hex(4)
            subprocess.run(["psql", args.postgres, "-qc", f"CREATE DATABASE {database}"], check=True)
            proc, base, key = start_purser(upstream, args.postgres.rsplit("/", 1)[0] + "/" + database)
            procs.append(proc)
            results.append(measure("Purser, PostgreSQL", base + "/v1/chat/completions", proc.pid, key, seconds))
            stop(proc)
        if not args.no_litellm:
            proc, base = start_litellm(upstream)
            procs.append(proc)
            results.append(measure("LiteLLM proxy", base + "/v1/chat/completions", proc.pid, None, seconds))
            stop(proc)
        report = table(results, results[0])
        machine = f"{os.cpu_count()} cores, load generator (wrk), mock and gateway on the same machine; {seconds} s per run"
        print()
        print(report)
        print()
        print(machine)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "latest.md"), "w") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {machine}\n\n{report}\n")
            f.write("\n```json\n" + json.dumps(results, indent=1) + "\n```\n")
    finally:
        for p in procs:
            stop(p)
        if database:
            subprocess.run(["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
