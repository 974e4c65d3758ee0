#!/usr/bin/env python3
"""The gateway benchmark: the same load, with the same load generator, against

  direct   a fast mock upstream (nginx answering a canned chat completion),
  purser   Purser in front of it, on SQLite and on PostgreSQL, with all governance on
           (key, team and user limits and budgets checked, every request metered),
  litellm  the LiteLLM proxy in front of it (config-file model, no database),

reporting requests/s at concurrency 1 and 32, latency added to the direct path (p50, p99
at concurrency 1), gateway CPU seconds per 1,000 requests and peak RSS. Each figure is the
median of several rounds. A second scenario puts an upstream with a fixed latency
(Purser's own mock, `--latency-ms`) behind the same gateways, as model servers are.
"""

import argparse
import json
import math
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
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import pg  # noqa: E402  (scratch databases, shared with the test drivers)

TICK = os.sysconf("SC_CLK_TCK")
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the benchmark upstream."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
})


def body(model):
    return '{"model":"%s","messages":[{"role":"user","content":"Say hello to the benchmark please"}]}' % model


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


def process_cpu(pid):
    """A process's command name and its CPU time (user + system) in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        head, fields = f.read().rsplit(")", 1)
    fields = fields.split()
    return head.split("(", 1)[1], int(fields[11]) + int(fields[12])


def cpu_seconds(pid):
    """CPU time of a process and its descendants."""
    total = 0
    for p in tree(pid):
        try:
            total += process_cpu(p)[1]
        except OSError:
            pass
    return total / TICK


def settle(pid, timeout=300):
    """Waits until a process is (nearly) idle. When wrk stops it cuts off the requests in
    flight; Purser meters them in the background, and the first one it counts itself loads
    the tokenizer's vocabulary (0.2 s of CPU, far more under valgrind): that must not land
    in a measured run."""
    deadline = time.time() + timeout
    last = cpu_seconds(pid)
    while time.time() < deadline:
        time.sleep(1)
        now = cpu_seconds(pid)
        if now - last < 0.2:
            return
        last = now


def postgres_cpu_seconds():
    """CPU time of every PostgreSQL server process on this machine."""
    total = 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            name, ticks = process_cpu(p)
        except OSError:
            continue
        if name.startswith("postgres"):
            total += ticks
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


def wrk(url, connections, seconds, key=None, model="bench"):
    script = os.path.join(TMP, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(body(model)))
        if key:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % key)
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("STATS %d %d %d %f %f\\n", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))\n'
                'end\n')
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script, url], capture_output=True, text=True, check=True).stdout
    requests, errors, duration_us, p50, p99 = out.split("STATS ")[1].split()
    return {"requests": int(requests), "errors": int(errors), "rps": int(requests) / (int(duration_us) / 1e6), "p50_us": float(p50), "p99_us": float(p99)}


def own_time_histogram(base):
    """Purser's `purser_gateway_overhead_seconds` histogram as [(upper bound in µs, cumulative count)]."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    buckets = re.findall(r'^purser_gateway_overhead_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
    return [(math.inf if le == "+Inf" else float(le) * 1e6, float(n)) for le, n in buckets]


def quantile(before, after, q):
    """The q-quantile in µs of what a histogram observed between two readings, interpolated
    linearly within its bucket."""
    cumulative = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = cumulative[-1][1] if cumulative else 0
    if not total:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for le, count in cumulative:
        if count >= rank:
            return lower if le == math.inf else lower + (le - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = le, count
    return lower


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def measure(name, url, pid, key, seconds, rounds, model="bench", direct_url=None, own_time=False, database_cpu=False):
    """Median over `rounds` rounds of a run at concurrency 1 and one at 32.

    With `direct_url`, each run is paired with a run of the same length against the direct
    mock just before it; the added latency and the share of direct req/s are then medians
    of the per-round differences and ratios, so that the machine's drift between the
    direct mock's runs and the gateway's does not count as the gateway's.

    With `own_time` (Purser), the c=1 runs also read Purser's own account of the time it
    spent on each request, off its overhead histogram.

    With `database_cpu`, each run also charges the PostgreSQL server's CPU (writing usage)
    per request; it shares the machine, but is not in the gateway's own figure."""
    wrk(url, 32, 2, key, model)  # warm up: connections, caches, allocator
    if pid:
        settle(pid)
    base = url.rsplit("/v1/", 1)[0]
    runs = {1: [], 32: []}
    for _ in range(rounds):
        for connections in (1, 32):
            direct = wrk(direct_url, connections, seconds, None, model) if direct_url else None
            histogram = own_time_histogram(base) if own_time and connections == 1 else None
            before = cpu_seconds(pid) if pid else 0
            database_before = postgres_cpu_seconds() if database_cpu else 0
            run = wrk(url, connections, seconds, key, model)
            run["cpu_us_per_req"] = (cpu_seconds(pid) - before) / max(run["requests"], 1) * 1e6 if pid else None
            if database_cpu:
                time.sleep(0.3)  # the last usage rows reach the database
                run["database_cpu_us_per_req"] = (postgres_cpu_seconds() - database_before) / max(run["requests"], 1) * 1e6
            if histogram:
                after = own_time_histogram(base)
                run["own_p50_us"], run["own_p99_us"] = quantile(histogram, after, 0.5), quantile(histogram, after, 0.99)
            if direct:
                run["direct"] = direct
            if run["errors"]:
                print(f"   warning: {name} c={connections}: {run['errors']} errors", file=sys.stderr)
            runs[connections].append(run)
    result = {"name": name, "rounds": runs}
    for connections, rs in runs.items():
        summary = {k: median([r[k] for r in rs]) for k in ("rps", "p50_us", "p99_us")}
        summary["errors"] = sum(r["errors"] for r in rs)
        summary["cpu_us_per_req"] = median([r["cpu_us_per_req"] for r in rs]) if pid else None
        if database_cpu:
            summary["database_cpu_us_per_req"] = median([r["database_cpu_us_per_req"] for r in rs])
        own = [r for r in rs if r.get("own_p99_us") is not None]
        if own:
            summary["own_p50_us"] = median([r["own_p50_us"] for r in own])
            summary["own_p99_us"] = median([r["own_p99_us"] for r in own])
        if direct_url:
            summary["added_p50_us"] = median([r["p50_us"] - r["direct"]["p50_us"] for r in rs])
            summary["added_p99_us"] = median([r["p99_us"] - r["direct"]["p99_us"] for r in rs])
            summary["direct_p99_us"] = median([r["direct"]["p99_us"] for r in rs])
            summary["share_of_direct"] = median([r["rps"] / r["direct"]["rps"] for r in rs])
        result[connections] = summary
    result["rss_mib"] = peak_rss_mib(pid) if pid else None
    print(f"   {name}: {result[1]['rps']:.0f} req/s at c=1, {result[32]['rps']:.0f} req/s at c=32", flush=True)
    return result


HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"


def idle_polling():
    """How long an idle vCPU of this guest polls before it halts (and must be woken by the
    host), which decides much of the latency at concurrency 1 (see docs/benchmarks.md)."""
    try:
        with open(HALT_POLL) as f:
            return f"; idle vCPUs poll up to {int(f.read()) / 1000:g} µs before halting (guest_halt_poll_ns)"
    except (OSError, ValueError):
        return ""


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


def admin_token(base):
    return api(base, "/api/v1/auth/login", {"email": "bench@example.com", "password": "bench password 123"})["accessToken"]


def send(base, method, path, body, token):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def start_purser(upstreams, database_url=None, data_dir=None, redis_url=None, wrapper=()):
    """Purser with one model per `{model name: upstream port}`, and an API key for all of
    them with every governance limit set: on the key, its team and its user. `wrapper` is
    a command that runs the server, such as valgrind."""
    data = data_dir or tempfile.mkdtemp(prefix="purser-bench-", dir=TMP)
    env = dict(os.environ, PURSER__LOG__LEVEL="warn")
    env.pop("RUST_LOG", None)
    if database_url:
        env["PURSER__DATABASE__URL"] = database_url
    if redis_url:
        env["PURSER__LIMITS__REDIS_URL"] = redis_url
        env["PURSER__LIMITS__REDIS_PREFIX"] = "purser-bench-%s:" % secrets.token_hex(4)
    # (PURSER_BIN picks another build, for comparing builds with bench/pairs.py.)
    binary = os.environ.get("PURSER_BIN") or os.path.join(ROOT, "target", "release", "purser")
    # (A data directory passed in may already have its admin.)
    subprocess.run([binary, "admin", "create", "--data-dir", data, "--email", "bench@example.com", "--password", "bench password 123"],
                   env=env, check=data_dir is None, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*wrapper, binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "log"), "w"))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", proc)
    token = admin_token(base)
    model_ids = []
    for name, upstream_port in upstreams.items():
        model = api(base, "/api/v1/admin/models", {
            "name": name, "provider": "vllm", "upstreamUrl": f"http://127.0.0.1:{upstream_port}/v1", "upstreamModel": "bench",
            "inputCostPerToken": "0.000001", "outputCostPerToken": "0.000002", "capabilities": ["chat"],
        }, token)
        api(base, "/api/v1/subscriptions", {"modelId": model["id"]}, token)
        model_ids.append(model["id"])
    # All governance on: every limit set (high enough not to refuse the benchmark) is checked
    # on every request, on the key, its team and its user, and every request is metered.
    limits = {"rpmLimit": 10_000_000, "tpmLimit": 1_000_000_000, "maxParallel": 100_000}
    key = api(base, "/api/v1/api-keys", dict(limits, name="bench", modelIds=model_ids, maxBudget="1000000000", budgetPeriod="monthly"), token)["key"]
    orgs = api(base, "/api/v1/organizations", None, token)["data"]
    default_org = next(o for o in orgs if o["isDefault"])["id"]
    team = api(base, f"/api/v1/organizations/{default_org}/teams", None, token)["data"][0]["id"]
    send(base, "PATCH", f"/api/v1/organizations/{default_org}/teams/{team}", dict(limits, budget="1000000000", budgetPeriod="monthly"), token)
    me = api(base, "/api/v1/auth/me", None, token)
    send(base, "PUT", f"/api/v1/users/{me['id']}/limits", dict(limits, maxBudget="1000000000", budgetPeriod="weekly"), token)
    return proc, base, key


def start_litellm(upstreams):
    conf = os.path.join(TMP, "litellm.yaml")
    with open(conf, "w") as f:
        f.write("model_list:\n")
        for name, upstream_port in upstreams.items():
            f.write(f"""  - model_name: {name}
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: unused
""")
    port = free_port()
    binary = os.path.join(ROOT, "bench", ".venv", "bin", "litellm")
    # LiteLLM refuses to start without a master key; with it (and no database) it checks
    # each request's key against it, its lightest form of authentication.
    master_key = "sk-bench-" + secrets.token_hex(16)
    env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_MASTER_KEY=master_key)
    proc = subprocess.Popen([binary, "--config", conf, "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(TMP, "litellm.log"), "w"), env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health/liveliness", proc, seconds=180)
    return proc, base, master_key


def start_slow_mock(latency_ms):
    port = free_port()
    binary = os.path.join(ROOT, "target", "release", "purser-mock-upstream")
    proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--latency-ms", str(latency_ms)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/v1/models", proc)
    return proc, port


def start_bare_proxy(upstream_url):
    """Purser's HTTP stack forwarding to `upstream_url` with nothing else (crates/bare-proxy)."""
    port = free_port()
    binary = os.path.join(ROOT, "target", "release", "purser-bare-proxy")
    proc = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--upstream", upstream_url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        wait_http(url, proc, seconds=30)  # (it answers a GET with 405: up all the same)
    except SystemExit:
        stop(proc)
        raise
    return proc, url


def stack_note(results):
    """How much of Purser's CPU per request is its HTTP stack, from the bare proxy's row."""
    bare = next((r for r in results if r["name"].startswith("bare proxy")), None)
    purser = next((r for r in results if r["name"].startswith("Purser, SQLite")), None)
    if bare is None or purser is None:
        return ""
    stack, total = bare[32]["cpu_us_per_req"], purser[32]["cpu_us_per_req"]
    return (f"The bare proxy is Purser's HTTP stack alone (axum on serving threads, its own connection pool per model server and thread, mimalloc; no key check, limits, "
            f"routing or metering): {stack:.1f} µs of CPU per request and {100 * share(bare, results[0]):.1f}% of direct at c=32. "
            f"Purser on SQLite spends {total - stack:.1f} µs per request on top of it.\n\n")


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def table(results, direct):
    lines = [
        "| target | req/s c=1 | req/s c=32 | % of direct (c=32) | p50 c=1 (added) | p99 c=1 (added) | own time p50 / p99 c=1 | CPU s / 1k req (c=32) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def latency(r, q):
        own = r[1][q] / 1000
        return f"{own:.3f} ms" if r is direct else f"{own:.3f} ms ({added(r, q, direct) / 1000:+.3f})"

    for r in results:
        cpu = r[32]["cpu_us_per_req"]
        own = "—" if "own_p99_us" not in r[1] else f"{r[1]['own_p50_us'] / 1000:.3f} / {r[1]['own_p99_us'] / 1000:.3f} ms"
        lines.append("| {} | {:,.0f} | {:,.0f} | {:.1f}% | {} | {} | {} | {} | {} |".format(
            r["name"], r[1]["rps"], r[32]["rps"], 100 * share(r, direct),
            latency(r, "p50_us"), latency(r, "p99_us"), own,
            "—" if cpu is None else f"{cpu / 1000:.3f} ({cpu:.0f} µs/req)",
            "—" if r["rss_mib"] is None else f"{r['rss_mib']:.0f} MiB"))
    return "\n".join(lines)


def database_note(results):
    """A line on the PostgreSQL server's CPU per request, for rows that measured it."""
    return "".join(
        f"{r['name']}: the PostgreSQL server, writing the usage rows on the same cores, took a further "
        f"{r[32]['database_cpu_us_per_req']:.1f} µs of CPU per request at c=32 ({r[1]['database_cpu_us_per_req']:.1f} µs at c=1).\n\n"
        for r in results if "database_cpu_us_per_req" in r.get(32, {}))


def added(r, q, direct=None):
    """Latency `q` added at c=1: paired with the direct runs when it was, else against `direct`."""
    return r[1].get("added_" + q, r[1][q] - (direct[1][q] if direct else 0))


def share(r, direct):
    """req/s at c=32 as a share of the direct mock's (paired when measured so)."""
    return r[32].get("share_of_direct", r[32]["rps"] / direct[32]["rps"])


def latency_table(results, direct):
    lines = [
        "| target | req/s c=1 | req/s c=32 | p50 c=1 | added p50 c=1 | p99 c=32 | added p99 c=32 | CPU µs/req (c=32) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        cpu = r[32]["cpu_us_per_req"]
        lines.append("| {} | {:,.0f} | {:,.0f} | {:.2f} ms | {} | {:.2f} ms | {} | {} |".format(
            r["name"], r[1]["rps"], r[32]["rps"], r[1]["p50_us"] / 1000,
            "—" if r is direct else f"{(r[1]['p50_us'] - direct[1]['p50_us']) / 1000:.3f} ms",
            r[32]["p99_us"] / 1000,
            "—" if r is direct else f"{(r[32]['p99_us'] - direct[32]['p99_us']) / 1000:.3f} ms",
            "—" if cpu is None else f"{cpu:.0f}"))
    return "\n".join(lines)


def reachable(url):
    """Whether something listens at a redis://host:port URL."""
    host_port = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=2).close()
        return True
    except (OSError, ValueError):
        return False


def verdicts(results, direct):
    """The issue's targets, checked against this run (Purser on SQLite is the reference)."""
    purser = next((r for r in results if r["name"].startswith("Purser, SQLite")), None)
    litellm = next((r for r in results if r["name"].startswith("LiteLLM")), None)
    if purser is None:
        return ""
    cpu = purser[32]["cpu_us_per_req"]
    p50, p99, ratio = added(purser, "p50_us", direct), added(purser, "p99_us", direct), share(purser, direct)
    yardstick = direct[32]["cpu_us_per_req"]
    yardstick = f" (nginx: {yardstick:.1f} µs)" if yardstick else ""
    checks = [
        ("CPU per proxied request ≤ 40 µs", f"{cpu:.1f} µs{yardstick}", cpu <= 40),
        ("added p50 at c=1 ≤ 0.2 ms", f"{p50 / 1000:.3f} ms", p50 <= 200),
        ("added p99 at c=1 ≤ 0.5 ms", f"{p99 / 1000:.3f} ms", p99 <= 500),
        ("req/s at c=32 ≥ 30% of direct", f"{100 * ratio:.1f}%", ratio >= 0.3),
    ]
    if litellm is not None:
        ratio = litellm[32]["cpu_us_per_req"] / cpu
        checks.append(("≥ 250× less CPU per request than LiteLLM", f"{ratio:.0f}×", ratio >= 250))
    lines = ["| target (Purser, SQLite) | measured | met |", "|---|---:|:-:|"]
    for name, value, ok in checks:
        verdict = "yes" if ok else "no"
        # When the mock alone has a p99 of milliseconds, the machine's jitter swamps the
        # difference, whichever way it goes.
        direct_p99 = purser[1].get("direct_p99_us", direct[1]["p99_us"])
        if "p99" in name and direct_p99 > 1000:
            verdict = f"unclear: the direct p99 itself is {direct_p99 / 1000:.1f} ms"
        lines.append(f"| {name} | {value} | {verdict} |")
    return "\n".join(lines)


def main():
    global TMP
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="one round of 5 s runs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target; each figure is their median")
    parser.add_argument("--seconds", type=int, default=10, help="length of each run")
    parser.add_argument("--latency-ms", type=int, default=50, help="latency of the slow upstream scenario (0: skip it)")
    parser.add_argument("--postgres", default=os.environ.get("PURSER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis", default=os.environ.get("PURSER_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
                        help="Redis for Purser on PostgreSQL (replica mode: limits shared); empty to go without")
    args = parser.parse_args()
    seconds, rounds = (5, 1) if args.quick else (args.seconds, args.rounds)
    if args.redis and not reachable(args.redis):
        print(f"   note: no Redis at {args.redis}; Purser on PostgreSQL runs without shared limits", file=sys.stderr)
        args.redis = ""
    TMP = tempfile.mkdtemp(prefix="bench-")
    procs, database = [], None
    try:
        upstream = free_port()
        procs.append(start_nginx(upstream))
        upstreams = {"bench": upstream}
        slow_url = None
        if args.latency_ms:
            slow_proc, slow_port = start_slow_mock(args.latency_ms)
            procs.append(slow_proc)
            upstreams["bench-slow"] = slow_port
            slow_url = f"http://127.0.0.1:{slow_port}/v1/chat/completions"
        print(f"== measuring: {rounds} round(s) of {seconds} s runs per target", flush=True)
        fast_url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
        # nginx's own CPU per request is the yardstick of how fast this machine is today.
        fast = [measure("mock upstream, direct (nginx)", fast_url, procs[0].pid, None, seconds, rounds)]
        slow = []
        if slow_url:
            slow.append(measure(f"{args.latency_ms} ms mock upstream, direct", slow_url, None, None, seconds, 1))
        bare, bare_url = start_bare_proxy(fast_url)
        procs.append(bare)
        fast.append(measure("bare proxy (the HTTP stack, no governance)", bare_url, bare.pid, None, seconds, rounds,
                            direct_url=fast_url))
        stop(bare)

        def gateway(name, started, database_cpu=False):
            proc, base, key = started
            procs.append(proc)
            fast.append(measure(name, base + "/v1/chat/completions", proc.pid, key, seconds, rounds, direct_url=fast_url,
                                own_time=name.startswith("Purser"), database_cpu=database_cpu))
            if slow_url:
                slow.append(measure(name, base + "/v1/chat/completions", proc.pid, key, seconds, 1, model="bench-slow"))
            stop(proc)

        gateway("Purser, SQLite", start_purser(upstreams))
        if not args.no_postgres:
            database = pg.create_database(args.postgres, "purser_bench_")
            name = "Purser, PostgreSQL + Redis" if args.redis else "Purser, PostgreSQL"
            gateway(name, start_purser(upstreams, pg.database_url(args.postgres, database), redis_url=args.redis or None),
                    database_cpu=True)
        if not args.no_litellm:
            gateway("LiteLLM proxy", start_litellm(upstreams))
        machine = (f"{os.cpu_count()} cores, load generator (wrk), mocks and gateway on the same machine; median of {rounds} round(s) of {seconds} s runs; "
                   "added latency and % of direct are medians of per-round comparisons with a direct run made just before"
                   + idle_polling())
        report = (f"### Fast upstream (nginx, canned answer)\n\n{table(fast, fast[0])}\n\n{database_note(fast)}{stack_note(fast)}"
                  f"{verdicts(fast, fast[0])}\n")
        if slow:
            report += f"\n### Upstream with {args.latency_ms} ms latency (one round)\n\n{latency_table(slow, slow[0])}\n"
        print()
        print(report)
        print(machine)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "latest.md"), "w") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — {machine}\n\n{report}\n")
            f.write("\n```json\n" + json.dumps({"fast": fast, "slow": slow}, indent=1) + "\n```\n")
    finally:
        for p in procs:
            stop(p)
        if database:
            pg.drop_database(args.postgres, database)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
