#!/usr/bin/env python3
"""/health latency while the session autosave runs every second, against the same worker with
autosave off, side by side (issue 8's goal: p99 within 1.2x of the idle figure).

Two sandbox workers from build/ (scripts/setup.sh first) on 127.0.0.1, each holding a session of
about 512 KB of raw state (pending templates: SEND_DELAY_MS keeps them queued), each fed one new
message a second so that every autosave has something to write: one with SESSION_AUTOSAVE_S=1,
one with SESSION_AUTOSAVE_S=86400. Rounds alternate between them; each round is N sequential
keep-alive GET /health and `wrk -t2 -c16 -d5s --latency`. Prints a Markdown table of medians.

  bench/autosave_benchmark.py [--build build] [--rounds 3] [--requests 3000]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_worker(binary, data_dir, autosave_s):
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", DATA_DIR=data_dir,
               SEND_DELAY_MS="600000", SESSION_AUTOSAVE_S=str(autosave_s),
               SESSION_MAX_BYTES="4m")
    log = open(os.path.join(data_dir, "worker.log"), "w+")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    port = None
    while time.time() < deadline and port is None:
        log.seek(0)
        text = log.read()
        m = re.search(r"listen address=127\.0\.0\.1:(\d+)", text)
        if m and "worker: ready" in text:
            port = int(m.group(1))
        time.sleep(0.05)
    if port is None:
        proc.kill()
        sys.exit(f"worker did not start; see {log.name}")
    return proc, port, log


def post_template(conn, to):
    body = json.dumps({"to": to, "template": {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Order %s is on its way to the address you gave" % to}]}]}})
    conn.request("POST", "/api/messages", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status


def fill(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(count):
        if post_template(conn, "1555%07d" % i) != 202:
            sys.exit("enqueue failed")
    conn.close()


def feeder(port, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    while not stop.is_set():
        post_template(conn, "1666%07d" % i)
        i += 1
        stop.wait(1.0)
    conn.close()


def sequential(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def wrk(port):
    out = subprocess.run(["wrk", "-t2", "-c16", "-d5s", "--latency",
                          f"http://127.0.0.1:{port}/health"],
                         capture_output=True, text=True).stdout

    def ms(label):
        m = re.search(label + r"\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return ms("50%"), ms("99%"), float(rps.group(1)) if rps else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--messages", type=int, default=750,
                    help="pending messages per worker (about 512 KB of raw session JSON)")
    args = ap.parse_args()
    binary = os.path.join(args.build, "worker")
    if not shutil.which("wrk"):
        sys.exit("install wrk (Debian package wrk)")
    dirs, workers, stops = [], {}, []
    try:
        for label, autosave in (("autosave every 1 s", 1), ("autosave off", 86400)):
            d = tempfile.mkdtemp(prefix="dg-bench-")
            dirs.append(d)
            proc, port, log = start_worker(binary, d, autosave)
            fill(port, args.messages)
            stop = threading.Event()
            threading.Thread(target=feeder, args=(port, stop), daemon=True).start()
            stops.append(stop)
            workers[label] = (proc, port, d)
        time.sleep(3)  # the first snapshots are written
        results = {label: {"seq50": [], "seq99": [], "wrk50": [], "wrk99": [], "rps": []}
                   for label in workers}
        for _ in range(args.rounds):
            for label, (_, port, _) in workers.items():
                p50, p99 = sequential(port, args.requests)
                w50, w99, rps = wrk(port)
                r = results[label]
                r["seq50"].append(p50)
                r["seq99"].append(p99)
                r["wrk50"].append(w50)
                r["wrk99"].append(w99)
                r["rps"].append(rps)
        snap = os.path.join(workers["autosave every 1 s"][2], "session.snapshot")
        size = os.path.getsize(snap) if os.path.exists(snap) else 0
        raw = 0
        if size:
            with open(snap) as f:
                raw = json.load(f).get("rawBytes", 0)
        print(f"| worker | sequential p50 | sequential p99 | wrk -c16 p50 | wrk -c16 p99 | req/s |")
        print("|---|---|---|---|---|---|")
        med = statistics.median
        for label, r in results.items():
            print(f"| {label} | {med(r['seq50']):.3f} ms | {med(r['seq99']):.3f} ms | "
                  f"{med(r['wrk50']):.3f} ms | {med(r['wrk99']):.2f} ms | {med(r['rps']):,.0f} |")
        a, b = results["autosave every 1 s"], results["autosave off"]
        print(f"\nratio of p99 (autosave / off): sequential {med(a['seq99']) / med(b['seq99']):.2f}x, "
              f"wrk {med(a['wrk99']) / med(b['wrk99']):.2f}x; median of {args.rounds} rounds; "
              f"snapshot {size / 1024:.0f} KB on disk for {raw / 1024:.0f} KB of raw state")
    finally:
        for stop in stops:
            stop.set()
        for proc, _, _ in workers.values():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
