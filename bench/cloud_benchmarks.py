#!/usr/bin/env python3
"""Measures the worker on the Cloud API transport and prints a Markdown table.

The worker runs on its own (no supervisor) with TRANSPORT=cloud against a local stand-in for
the Graph API (this file's GraphFake: Bearer auth, the send and heartbeat answers Meta
documents, a fixed delay per answer) and, for forwarding, a local receiver that answers 200.
127.0.0.1 only; the whole run takes about 3 minutes.

  bench/cloud_benchmarks.py [--build build] [--graph-delay-ms 50] [--sends 400]

Figures:
  sends/s       SEND_DELAY_MS=0, the Graph API answering in --graph-delay-ms, at
                SEND_CONCURRENCY 1 and 16 (--sends messages to distinct recipients)
  enqueue       POST /api/messages p50/p99 (one keep-alive client, sequential) while the
                worker sends at full rate (SEND_CONCURRENCY=16)
  webhook       POST /webhook → 200 p50/p99 (signed, distinct message ids, sequential)
  forwarded/s   inbound webhook messages (distinct chats) → POSTed to WEBHOOK_URL, per second
  memory        cloud worker idle RSS; after 10,000 sends; with 10,000 messages waiting (the
                Graph API down: the queue lives on disk)
"""
import sys

sys.modules["ssl"] = None  # the bench must not map libcrypto (see run_benchmarks.py)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

TOKEN = "bench-token"
PHONE_ID = "106540352242922"
APP_SECRET = "bench-app-secret"
TEMPLATE = {"name": "hello_world", "language": {"code": "en_US"}}


class GraphFake:
    """POST /v25.0/{phone}/messages and GET /v25.0/{phone}, each after `delay` seconds."""

    def __init__(self, delay):
        self.delay = delay
        self.down = False  # True: every request's connection is dropped unanswered
        self.lock = threading.Lock()
        self.sends = 0
        self.first = None
        self.last = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorized(self):
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                self.answer(401, {"error": {"message": "Invalid OAuth access token.",
                                            "type": "OAuthException", "code": 190,
                                            "fbtrace_id": "bench"}})
                return False

            def dropped(self):
                if fake.down:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                return fake.down

            def do_GET(self):
                if self.dropped():
                    return
                if fake.delay:
                    time.sleep(fake.delay)
                if self.authorized():
                    self.answer(200, {"verified_name": "Bench", "id": PHONE_ID,
                                      "display_phone_number": "+1 555-000-0000",
                                      "quality_rating": "GREEN"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.dropped():
                    return
                if fake.delay:
                    time.sleep(fake.delay)
                if not self.authorized():
                    return
                request = json.loads(body or b"{}")
                with fake.lock:
                    fake.sends += 1
                    now = time.monotonic()
                    fake.first = fake.first or now
                    fake.last = now
                    n = fake.sends
                self.answer(200, {"messaging_product": "whatsapp",
                                  "contacts": [{"input": request.get("to"),
                                                "wa_id": request.get("to")}],
                                  "messages": [{"id": f"wamid.bench{n:012d}",
                                                "message_status": "accepted"}]})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Receiver:
    """The user's bot: answers 200 to every POST and counts them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.first = None
        self.last = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.count += 1
                    now = time.monotonic()
                    receiver.first = receiver.first or now
                    receiver.last = now
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Worker:
    """The worker alone on TRANSPORT=cloud, in a temporary DATA_DIR."""

    def __init__(self, build, graph_port, extra_env=None):
        self.dir = tempfile.mkdtemp(prefix="dg-cloud-bench-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "log")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1",
               "PORT": str(self.port), "DATA_DIR": self.dir, "MEMORY_LIMIT_MB": "512",
               "TRANSPORT": "cloud", "WHATSAPP_TOKEN": TOKEN,
               "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "WHATSAPP_APP_SECRET": APP_SECRET,
               "WHATSAPP_VERIFY_TOKEN": "bench-verify",
               "WHATSAPP_API_BASE": f"http://127.0.0.1:{graph_port}/v25.0",
               "API_KEY": "bench-key", "SEND_DELAY_MS": "0"}
        env.update(extra_env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(build, "worker")], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_log(r"ready", 20)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def wait_log(self, pattern, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path) as f:
                if re.search(pattern, f.read()):
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {open(self.log_path).read()[-2000:]}")
            time.sleep(0.01)
        raise RuntimeError(f"timed out waiting for {pattern!r}")

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer bench-key"}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=h)
        response = self.conn.getresponse()
        return response.status, response.read()

    def enqueue(self, to):
        status, body = self.request("POST", "/api/messages", {"to": to, "template": TEMPLATE})
        if status != 202:
            raise RuntimeError(f"enqueue {status}: {body[:200]!r}")

    def queue(self):
        return json.loads(self.request("GET", "/api/queue")[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def sends_per_second(build, graph_delay, concurrency, count, enqueue_probe=0):
    graph = GraphFake(graph_delay)
    worker = Worker(build, graph.port, {"SEND_CONCURRENCY": str(concurrency)})
    try:
        # The window is the queue's: enqueue everything first, then let it run.
        for i in range(count):
            worker.enqueue(f"1555{i:07d}")
        latencies = []
        for i in range(enqueue_probe):  # enqueues while sending at full rate
            started = time.perf_counter()
            worker.enqueue(f"1666{i:07d}")
            latencies.append((time.perf_counter() - started) * 1000)
        total = count + enqueue_probe
        if not wait_until(lambda: graph.sends >= total, 600):
            raise RuntimeError(f"only {graph.sends} of {total} sent")
        rate = (graph.sends - 1) / (graph.last - graph.first)
        return rate, latencies
    finally:
        worker.stop()
        graph.stop()


def signed(body):
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(i, chat):
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": chat}],
            "messages": [{"from": chat, "id": f"wamid.in{i:012d}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": f"hello {i}"}}]}}]}]}).encode()


def webhook_rows(build, count):
    graph = GraphFake(0)
    receiver = Receiver()
    worker = Worker(build, graph.port,
                    {"WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/events",
                     "WEBHOOK_SECRET": "bench-webhook-secret"})
    try:
        latencies = []
        for i in range(count):
            body = webhook_body(i, f"1777{i % 500:07d}")
            started = time.perf_counter()
            status, _ = worker.request("POST", "/webhook", body,
                                       {"X-Hub-Signature-256": signed(body),
                                        "Content-Type": "application/json"})
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"webhook answered {status}")
        if not wait_until(lambda: receiver.count >= count, 300):
            raise RuntimeError(f"only {receiver.count} of {count} forwarded")
        rate = (receiver.count - 1) / (receiver.last - receiver.first)
        return [("POST /webhook → 200 (signed, sequential, "
                 f"{count} distinct messages) p50 / p99",
                 f"{statistics.median(latencies):.2f} ms / {percentile(latencies, 99):.2f} ms"),
                ("webhook messages forwarded to WEBHOOK_URL (500 chats)",
                 f"{rate:.0f} events/s")]
    finally:
        worker.stop()
        receiver.stop()
        graph.stop()


def memory_rows(build):
    rows = []
    graph = GraphFake(0)
    worker = Worker(build, graph.port, {"SEND_CONCURRENCY": "16"})
    try:
        time.sleep(3)
        rows.append(("cloud worker idle RSS (after its first heartbeat)",
                     f"{rss_kb(worker.proc.pid) / 1024:.1f} MB"))
        for i in range(10000):
            worker.enqueue(f"1888{i % 2000:07d}")
        if not wait_until(lambda: graph.sends >= 10000, 600):
            raise RuntimeError(f"only {graph.sends} of 10000 sent")
        time.sleep(1)
        rows.append(("cloud worker RSS after 10,000 sends",
                     f"{rss_kb(worker.proc.pid) / 1024:.1f} MB"))
    finally:
        worker.stop()
        graph.stop()
    graph = GraphFake(0)
    worker = Worker(build, graph.port)
    try:
        graph.down = True  # the Graph API goes away: nothing can be sent, everything waits
        wait_until(lambda: b'"state":"connected"' not in worker.request("GET", "/session-status")[1],
                   60)
        for i in range(10000):
            worker.enqueue(f"1999{i:07d}")
        depth = worker.queue().get("depth")
        rows.append((f"cloud worker RSS with 10,000 messages waiting (queue depth {depth})",
                     f"{rss_kb(worker.proc.pid) / 1024:.1f} MB"))
    finally:
        worker.stop()
        graph.stop()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--graph-delay-ms", type=int, default=50)
    parser.add_argument("--sends", type=int, default=400)
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--only", default="sends,webhook,memory")
    args = parser.parse_args()
    only = args.only.split(",")
    delay = args.graph_delay_ms / 1000
    rows = []
    if "sends" in only:
        bound = 1000 / args.graph_delay_ms
        rate1, _ = sends_per_second(args.build, delay, 1, min(args.sends, 200))
        rows.append((f"sends/s, SEND_CONCURRENCY=1, Graph answering in {args.graph_delay_ms} ms",
                     f"{rate1:.1f}/s ({rate1 / bound * 100:.0f} % of the {bound:.0f}/s bound)"))
        rate16, enqueue = sends_per_second(args.build, delay, 16, args.sends, 500)
        rows.append((f"sends/s, SEND_CONCURRENCY=16, Graph answering in {args.graph_delay_ms} ms",
                     f"{rate16:.0f}/s"))
        rows.append(("POST /api/messages p50 / p99 while sending at full rate (sequential)",
                     f"{statistics.median(enqueue):.2f} ms / {percentile(enqueue, 99):.2f} ms"))
    if "webhook" in only:
        rows += webhook_rows(args.build, args.webhooks)
    if "memory" in only:
        rows += memory_rows(args.build)
    print("| figure (cloud transport) | measured |")
    print("|---|---|")
    for a, b in rows:
        print(f"| {a} | {b} |")


if __name__ == "__main__":
    sys.exit(main())
