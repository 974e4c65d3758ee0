#!/usr/bin/env python3
"""Fault drills against the built binaries, with the official OpenAI Python client and wrk:

- one deployment of a model answers 500: the other answers every request;
- the only deployment answers 500, is slow, or never answers: a clear error in bounded time;
- a model server is killed in the middle of a stream: the stream ends at once, and the
  next request fails fast while other models keep answering;
- under wrk load, the database is cut (PostgreSQL, through a relay this script controls)
  and restored: the gateway keeps answering and writes the held usage afterwards;
- SIGTERM under wrk load: Purser drains and exits 0, and every request wrk got an answer
  to has exactly one usage row.

Usage: scripts/faults.py [--postgres ADMIN_URL] [--bin-dir target/debug]
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import api, check, checks, free_port, run, wait_ready  # noqa: E402
from pg import create_database, drop_database  # noqa: E402

ADMIN = ("faults@example.com", "faults password 123")
WRK_CONNECTIONS = 16
# Short timeouts, so that every drill ends in seconds.
GATEWAY_ENV = {
    "PURSER__GATEWAY__FIRST_BYTE_TIMEOUT_MS": "1000",
    "PURSER__GATEWAY__STREAM_IDLE_TIMEOUT_MS": "1000",
    "PURSER__GATEWAY__TOTAL_TIMEOUT_MS": "4000",
    "PURSER__GATEWAY__RETRIES": "2",
    "PURSER__GATEWAY__BREAKER_FAILURES": "3",
    "PURSER__GATEWAY__BREAKER_COOLDOWN_MS": "60000",
}


class Relay:
    """A TCP relay in front of the database that can be cut (connections dropped, port
    closed) and restored on the same port: the database host going away and coming back."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets = []
        self.listener = None
        self.up = False
        self.restore()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self.lock:
            self.listener, self.up = listener, True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        with self.lock:
            self.up = False
            # shutdown() wakes the thread blocked in accept(); close() alone would not,
            # and the port would go on accepting.
            for s in [self.listener, *self.sockets]:
                close(s)
            self.sockets.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                close(client)
                continue
            with self.lock:
                if not self.up:  # accepted just as the relay was cut
                    close(client)
                    close(server)
                    return
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            shut(s)


def shut(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def close(s):
    shut(s)
    s.close()


def metric(base, name, labels=""):
    """The value of the first sample of `name` that has the labels `labels` (`a="b",...`)."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    wanted = set(re.findall(r'\w+="[^"]*"', labels))
    for line in text.splitlines():
        match = re.match(rf"{name}(?:{{([^}}]*)}})? (\S+)$", line)
        if match and wanted <= set(re.findall(r'\w+="[^"]*"', match.group(1) or "")):
            return float(match.group(2))
    raise SystemExit(f"no metric {name}{{{labels}}}")


def until(what, seconds, condition):
    started = time.time()
    while not condition():
        if time.time() > started + seconds:
            check(what, False, f"not within {seconds} s")
        time.sleep(0.1)
    check(f"{what} ({time.time() - started:.1f} s)", True)


def start_wrk(base, key, model, scratch):
    """wrk on one thread for as long as it is let run; its `done` prints how many answers
    were 200 and how many were not."""
    script = os.path.join(scratch, "faults.lua")
    with open(script, "w") as f:
        f.write(f"""wrk.method = "POST"
wrk.body = '{{"model":"{model}","messages":[{{"role":"user","content":"hello there"}}]}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
ok, other = 0, 0
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end
threads = {{}}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do io.write(string.format("ANSWERS %d %d\\n", t:get("ok"), t:get("other"))) end
end
""")
    return subprocess.Popen(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", "-d300s", "-s", script, base + "/v1/chat/completions"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_wrk(wrk):
    wrk.send_signal(signal.SIGINT)
    out, _ = wrk.communicate(timeout=30)
    match = re.search(r"ANSWERS (\d+) (\d+)", out)
    if not match:
        raise SystemExit(f"wrk printed no counts:\n{out}")
    return int(match.group(1)), int(match.group(2))


def timed(call):
    """Runs `call`; returns (the error it raised or None, seconds taken)."""
    started = time.monotonic()
    try:
        call()
        return None, time.monotonic() - started
    except openai.APIError as e:
        return e, time.monotonic() - started


def status_of(error):
    return getattr(error, "status_code", None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server to create a fresh database on")
    parser.add_argument("--bin-dir", default="target/debug")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="purser-faults-")
    env = dict(os.environ, **GATEWAY_ENV)
    env.pop("RUST_LOG", None)
    database, relay = None, None
    if args.postgres:
        database = create_database(args.postgres, "purser_faults_")
        url = urllib.parse.urlsplit(args.postgres)
        relay = Relay((url.hostname or "127.0.0.1", url.port or 5432))
        credentials = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
        env["PURSER__DATABASE__URL"] = urllib.parse.urlunsplit(
            url._replace(netloc=f"{credentials}127.0.0.1:{relay.port}", path="/" + database))
    backend = "postgres" if database else "sqlite"
    print(f"== fault drills on {backend}", flush=True)

    purser_bin = os.path.join(args.bin_dir, "purser")
    mock_bin = os.path.join(args.bin_dir, "purser-mock-upstream")
    steady_port, doomed_port, port = free_port(), free_port(), free_port()
    steady = subprocess.Popen([mock_bin, "--listen", f"127.0.0.1:{steady_port}"], stderr=subprocess.DEVNULL)
    doomed = subprocess.Popen([mock_bin, "--listen", f"127.0.0.1:{doomed_port}", "--chunk-delay-ms", "200"], stderr=subprocess.DEVNULL)
    server, wrk = None, None
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(scratch, "purser.log"), "w")

    def serve():
        process = subprocess.Popen([purser_bin, "serve", "--data-dir", scratch, "--listen", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
        wait_ready(base, process)
        return process

    try:
        subprocess.run([purser_bin, "admin", "create", "--data-dir", scratch, "--email", ADMIN[0], "--password", ADMIN[1]],
                       env=env, check=True, capture_output=True)
        server = serve()
        status, session = api(base, "POST", "/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        token = session["accessToken"]

        def model(name, url_port, upstream_model, more=()):
            status, created = api(base, "POST", "/api/v1/admin/models", {
                "name": name, "provider": "vllm", "upstreamUrl": f"http://127.0.0.1:{url_port}/v1", "upstreamModel": upstream_model,
                "inputCostPerToken": "0.000001", "outputCostPerToken": "0.000002", "capabilities": ["chat"],
            }, token)
            assert status == 201, created
            for other_model in more:
                status, added = api(base, "POST", f"/api/v1/admin/models/{created['id']}/deployments",
                                    {"upstreamUrl": f"http://127.0.0.1:{url_port}/v1", "upstreamModel": other_model}, token)
                assert status == 201, added
            api(base, "POST", "/api/v1/subscriptions", {"modelId": created["id"]}, token)
            return created["id"]

        models = {
            "steady": model("steady", steady_port, "ok"),
            "during-outage": model("during-outage", steady_port, "ok"),
            "flaky": model("flaky", steady_port, "fail-500", more=["ok"]),
            "broken": model("broken", steady_port, "fail-500"),
            "slow": model("slow", steady_port, "slow-3000"),
            "hang": model("hang", steady_port, "hang"),
            "doomed": model("doomed", doomed_port, "ok"),
        }
        status, key = api(base, "POST", "/api/v1/api-keys", {"name": "faults", "modelIds": list(models.values())}, token)
        client = openai.OpenAI(api_key=key["key"], base_url=base + "/v1", max_retries=0, timeout=15)
        messages = [{"role": "user", "content": "hello there"}]

        def chat(model_name, **kw):
            return lambda: client.chat.completions.create(model=model_name, messages=messages, **kw)

        # A failing deployment: the other one answers everything.
        answers = [client.chat.completions.create(model="flaky", messages=messages) for _ in range(20)]
        check("one deployment answering 500: all 20 requests answered by the other",
              all(a.choices[0].message.content.startswith("This is a canned answer") for a in answers))

        # The only deployment failing, slow or silent: an error, in bounded time.
        error, took = timed(chat("broken"))
        check(f"the only deployment answering 500: 502 after {took:.2f} s (limit 3 s)", status_of(error) == 502 and took < 3, repr(error))
        error, took = timed(chat("slow"))
        check(f"a deployment slower than the first-byte timeout: 504 after {took:.2f} s (limit 5 s)", status_of(error) == 504 and took < 5, repr(error))
        error, took = timed(chat("hang"))
        check(f"a deployment that never answers: 504 after {took:.2f} s (limit 5 s)", status_of(error) == 504 and took < 5, repr(error))

        # A model server killed in the middle of a stream.
        stream = client.chat.completions.create(model="doomed", messages=messages, stream=True)
        chunks = iter(stream)
        next(chunks)  # the stream has started
        doomed.kill()
        killed_at = time.monotonic()
        rest, broke = [], None
        try:
            rest = list(chunks)
        except Exception as e:  # noqa: BLE001 (the client reports a cut stream in its own way)
            broke = e
        ended_in = time.monotonic() - killed_at
        finished = any(c.choices and c.choices[0].finish_reason == "stop" for c in rest)
        # (Well under the stream idle timeout: the end must come from the broken connection.)
        check(f"model server killed mid-stream: the client's stream ends {ended_in:.2f} s later, unfinished (limit 0.5 s)",
              not finished and ended_in < 0.5, f"finished={finished} ({broke!r})")
        error, took = timed(chat("doomed"))
        check(f"then its next request fails fast: 502 after {took:.2f} s (limit 3 s)", status_of(error) == 502 and took < 3, repr(error))
        check("and other models keep answering", client.chat.completions.create(model="steady", messages=messages).choices[0].message.content != "")

        # Load from wrk on `steady` from here to the end.
        wrk = start_wrk(base, key["key"], "steady", scratch)
        time.sleep(2)
        if relay:
            steady_answers = 'model="steady",status="200"'
            before = metric(base, "purser_gateway_requests_total", steady_answers)
            write_errors = metric(base, "purser_usage_write_errors_total")
            relay.cut()
            reply = client.chat.completions.create(model="during-outage", messages=messages)
            check("database cut: a known key is still answered", reply.choices[0].message.content != "")
            until("database cut: usage is held in memory (purser_usage_pending > 0)", 5, lambda: metric(base, "purser_usage_pending") > 0)
            # A write that starts after the cut waits out the pool's acquire timeout (5 s)
            # while its connects are refused, so its failure can take that long to show.
            until("database cut: usage writes fail meanwhile", 10,
                  lambda: metric(base, "purser_usage_write_errors_total") > write_errors)
            time.sleep(1)
            held = metric(base, "purser_usage_pending")
            during = metric(base, "purser_gateway_requests_total", steady_answers) - before
            check(f"database cut: wrk's load still answered ({during:.0f} requests in the cut)", during > 0)
            relay.restore()
            # (Under load some usage is always pending between two writes.)
            until("database back: the held usage is written", 30, lambda: metric(base, "purser_usage_pending") < held / 4)
            check(f"database back: {held:.0f} held usage rows written, none dropped", metric(base, "purser_usage_dropped_total") == 0)
        time.sleep(1)

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
        server = None
        check("SIGTERM under wrk load: purser drains and exits 0", code == 0, f"exit code {code}")
        answered, refused = stop_wrk(wrk)
        wrk = None
        check(f"wrk: {answered} requests answered 200, none answered otherwise", answered > 0 and refused == 0, f"{refused} not 200")

        server = serve()
        status, session = api(base, "POST", "/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        status, summary = api(base, "GET", "/api/v1/usage/summary", token=session["accessToken"])
        metered = {m["modelName"]: m["requests"] for m in summary["byModel"]}
        check(f"every request wrk got an answer to has exactly one usage row ({answered})", metered.get("steady") == answered + 1,
              f"{metered.get('steady')} rows for {answered} + 1 answers")
        if relay:
            check("the request answered during the database cut has its usage row", metered.get("during-outage") == 1, str(metered))
        check("the 20 requests to the flaky model have 20 rows", metered.get("flaky") == 20, str(metered))
    finally:
        for process in (wrk, server, steady, doomed):
            if process is not None and process.poll() is None:
                process.kill()
        if relay:
            relay.cut()
        if database:
            drop_database(args.postgres, database)
    print(f"== {backend}: {len(checks)} fault checks passed", flush=True)


if __name__ == "__main__":
    run(main)
