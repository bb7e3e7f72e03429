#!/usr/bin/env python3
"""Measures dynoguard's figures on this machine and prints a Markdown report.

Runs the real binaries from build/ (scripts/setup.sh first): the supervisor guarding the worker
on the sandbox transport, on 127.0.0.1 only. Everything is bounded in count and time.

  bench/run_benchmarks.py [--build build] [--cpu-seconds 60] [--kills 10] [--out docs/benchmarks.md]

Figures: supervisor RSS while guarding and its CPU time over --cpu-seconds at the default poll;
SIGKILL of the worker → the new worker's READY=1 (median of --kills); worker idle RSS, RSS after
10,000 /health requests; wrk -t2 -c16 -d10s on /health; POST /api/messages latency (p50/p99)
including the durable write; how far a worker leaking 50 MB/s gets past a 150 MB budget; requests
failed by graceful restarts under wrk load, and how long a worker takes to stop on SIGTERM.

Side by side in the same run: a bare cpp-httplib server (bench/bare_httplib.cc, built here with
g++ against the same Debian library) for the HTTP and memory floor.
"""
import sys

# The bench must not map libcrypto itself (http.client imports ssl, which
# loads it): the worker hands its unused libcrypto pages back to the kernel
# (MADV_PAGEOUT), and pages another process also maps are shared, not
# reclaimable, so the worker's RSS would measure this script.
sys.modules["ssl"] = None

import argparse  # noqa: E402
import threading  # noqa: E402
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import datetime


NOTES_MARKER = "<!-- notes: kept by run_benchmarks.py -->"


def smaps_kb(pid, *keys):
    """Sum of the given smaps_rollup lines (kB)."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in keys:
                total += int(line.split()[1])
    return total


def pss_kb(pid):
    return smaps_kb(pid, "Pss")


def private_kb(pid):
    return smaps_kb(pid, "Private_Clean", "Private_Dirty")


def memory_figure(pid):
    return (f"{rss_kb(pid) / 1024:.1f} MB (PSS {pss_kb(pid) / 1024:.1f} MB, "
            f"private {private_kb(pid) / 1024:.1f} MB)")


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


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Guarded:
    """The supervisor + worker, started in a temporary DATA_DIR."""

    def __init__(self, build, extra_env=None):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="dg-bench-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "log")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1",
               "PORT": str(self.port), "DATA_DIR": self.dir, "MEMORY_LIMIT_MB": "512"}
        env.update(extra_env or {})
        self.env = env
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(build, "supervisor"), "start"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_log(r"worker: ready", 20)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout, start=0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.log_text()[start:])
            if m:
                return m
            time.sleep(0.005)
        raise RuntimeError(f"timed out waiting for {pattern!r}")

    def status(self):
        out = subprocess.check_output([os.path.join(self.build, "supervisor"), "status", "--json"],
                                      env=self.env)
        return json.loads(out)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def log_time(line):
    stamp = line.split(" ", 1)[0]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def measure_restart(build, env, kills):
    """SIGKILL → READY=1 of the next worker, from the supervisor's own log timestamps. Each kill
    is the first crash of a fresh supervisor: later crashes in a row wait out a doubling backoff
    (a crash loop must not spin), which would measure the backoff, not the restart."""
    samples = []
    for _ in range(kills):
        g = Guarded(build, env)
        try:
            time.sleep(0.3)
            pid = g.status()["worker"]["pid"]
            start = len(g.log_text())
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            m = g.wait_log(r"(\S+) info supervisor: ready pid=(\d+)", 20, start)
            samples.append((log_time(m.group(0)) - killed_at) * 1000)
        finally:
            g.stop()
    return samples


def health_loop(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(count):
        conn.request("GET", "/health")
        conn.getresponse().read()
    conn.close()


def post_latency(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for i in range(count):
        body = json.dumps({"to": "15551234567", "text": f"bench {i}"})
        t0 = time.perf_counter()
        conn.request("POST", "/api/messages", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        samples.append((time.perf_counter() - t0) * 1000)
        if resp.status != 202:
            raise RuntimeError(f"POST answered {resp.status}")
    conn.close()
    return samples


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wrk(port):
    if shutil.which("wrk") is None:
        return None
    out = subprocess.check_output(["wrk", "-t2", "-c16", "-d10s", f"http://127.0.0.1:{port}/health"],
                                  text=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    return rps, latency


def pkg_config(*args):
    return subprocess.check_output(["pkg-config", *args, "cpp-httplib"], text=True).split()


class BareHttplib:
    """bench/bare_httplib.cc, compiled into a temporary directory and started on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dg-bare-")
        source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_httplib.cc")
        binary = os.path.join(self.dir, "bare_httplib")
        subprocess.check_call(["g++", "-std=c++20", "-O2", *pkg_config("--cflags"), source, "-o",
                               binary, *pkg_config("--libs")])
        self.port = free_port()
        self.proc = subprocess.Popen([binary, str(self.port)])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("bare_httplib did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def tree_rss_kb(pid):
    """VmRSS of `pid` and its children (the worker's tree), 0 once it is gone."""
    total = 0
    try:
        total = rss_kb(pid)
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for child in f.read().split():
                total += tree_rss_kb(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def leak_reaction(build, limit_mb, rate_mb_s, poll_ms=None):
    """A worker leaking `rate_mb_s` (pinned ballast, which no cleanup frees) under a `limit_mb`
    budget: the highest tree RSS seen (sampled every 5 ms) before the supervisor replaced it."""
    env = {"MEMORY_LIMIT_MB": str(limit_mb), "DEBUG_ENDPOINTS": "true"}
    if poll_ms:
        env["MEMORY_POLL_MS"] = str(poll_ms)
    g = Guarded(build, env)
    try:
        worker = g.status()["worker"]["pid"]
        start = len(g.log_text())
        step_mb, period = 5, 5 / rate_mb_s
        done = threading.Event()

        def leak():
            conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=5)
            while not done.is_set():
                t0 = time.time()
                try:
                    conn.request("POST", f"/debug/ballast?mb={step_mb}&pinned=1")
                    conn.getresponse().read()
                except (OSError, http.client.HTTPException):
                    return  # the worker is stopping
                time.sleep(max(0.0, period - (time.time() - t0)))

        leaker = threading.Thread(target=leak)
        leaker.start()
        peak_kb, deadline = 0, time.time() + 60
        while time.time() < deadline and not re.search(r"restart reason=memory",
                                                       g.log_text()[start:]):
            peak_kb = max(peak_kb, tree_rss_kb(worker))
            time.sleep(0.005)
        # The old worker may still grow while it stops: keep sampling until it is gone.
        while os.path.exists(f"/proc/{worker}") and time.time() < deadline:
            peak_kb = max(peak_kb, tree_rss_kb(worker))
            time.sleep(0.005)
        done.set()
        leaker.join()
        line = re.search(r"restart reason=memory[^\n]*", g.log_text()[start:])
        return peak_kb / 1024, line.group(0) if line else "no restart"
    finally:
        g.stop()


def restarts_under_load(g, restarts, seconds):
    """wrk on /health while `restarts` graceful restarts happen; wrk's error counts."""
    if shutil.which("wrk") is None:
        return None
    wrk_proc = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s",
                                 f"http://127.0.0.1:{g.port}/health"],
                                stdout=subprocess.PIPE, text=True)
    start = len(g.log_text())
    for i in range(restarts):
        time.sleep(seconds / (restarts + 1))
        subprocess.check_call([os.path.join(g.build, "supervisor"), "restart"], env=g.env,
                              stdout=subprocess.DEVNULL)
    out, _ = wrk_proc.communicate()
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    # SIGTERM → exit of each old worker, from the supervisor's log.
    stops = []
    log = g.log_text()[start:]
    for stop in re.finditer(r"(\S+) info supervisor: stop pid=(\d+) signal=SIGTERM", log):
        exit_line = re.search(r"(\S+) info supervisor: exit pid=" + stop.group(2) + " ",
                              log[stop.end():])
        if exit_line:
            stops.append((log_time(exit_line.group(0)) - log_time(stop.group(0))) * 1000)
    return total, errors, stops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--cpu-seconds", type=int, default=60)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--out")
    args = parser.parse_args()

    rows = []
    g = Guarded(args.build)
    try:
        time.sleep(2)
        worker = g.status()["worker"]["pid"]
        sup = g.proc.pid
        rows.append(("worker idle RSS (sandbox)", memory_figure(worker)))
        rows.append(("supervisor RSS while guarding", memory_figure(sup)))
        t0, c0 = time.time(), cpu_ticks(sup)
        time.sleep(args.cpu_seconds)
        ticks = cpu_ticks(sup) - c0
        hz = os.sysconf("SC_CLK_TCK")
        rows.append((f"supervisor CPU time over {args.cpu_seconds} s (poll 1000 ms)",
                     f"{ticks * 1000 / hz:.0f} ms ({ticks * 100 / hz / (time.time() - t0):.3f} % of a core)"))
        health_loop(g.port, 10000)
        rows.append(("worker RSS after 10,000 /health", f"{rss_kb(worker) / 1024:.1f} MB"))
        result = wrk(g.port)
        if result:
            rows.append(("/health, wrk -t2 -c16 -d10s", f"{result[0]:,.0f} requests/s (mean latency {result[1]})"))
        posts = post_latency(g.port, 1000)
        rows.append(("POST /api/messages (durable), 1,000 sequential",
                     f"p50 {percentile(posts, 50):.2f} ms, p99 {percentile(posts, 99):.2f} ms"))
        loaded = restarts_under_load(g, 3, 12)
        if loaded:
            total, errors, stops = loaded
            rows.append(("3 graceful restarts (`supervisor restart`) under wrk -t2 -c16 on /health",
                         f"{errors} failed of {total:,} requests"))
            if stops:
                rows.append(("SIGTERM → worker exit during those restarts",
                             f"median {statistics.median(stops):.0f} ms (n={len(stops)})"))
    finally:
        g.stop()

    bare = BareHttplib()
    try:
        time.sleep(0.5)
        rows.append(("bare cpp-httplib server (same library, same run): idle RSS",
                     memory_figure(bare.proc.pid)))
        health_loop(bare.port, 10000)
        rows.append(("bare cpp-httplib server: RSS after 10,000 /health",
                     f"{rss_kb(bare.proc.pid) / 1024:.1f} MB"))
        result = wrk(bare.port)
        if result:
            rows.append(("bare cpp-httplib server: /health, wrk -t2 -c16 -d10s",
                         f"{result[0]:,.0f} requests/s (mean latency {result[1]})"))
    finally:
        bare.stop()

    for poll in (None, 100):
        peak, line = leak_reaction(args.build, 150, 50, poll)
        label = "default poll 1000 ms" if poll is None else f"MEMORY_POLL_MS={poll}"
        rows.append((f"worker leaking 50 MB/s, 150 MB budget ({label}): highest RSS before the restart",
                     f"{peak:.0f} MB (`{line}`)"))

    for label, env in (("default first backoff RESTART_BACKOFF_MIN_MS=100", {}),
                       ("RESTART_BACKOFF_MIN_MS=10", {"RESTART_BACKOFF_MIN_MS": "10"})):
        samples = measure_restart(args.build, env, args.kills)
        rows.append((f"SIGKILL of the worker → new worker READY=1, {label}",
                     f"median {statistics.median(samples):.0f} ms (min {min(samples):.0f}, max {max(samples):.0f}, n={len(samples)})"))

    uname = os.uname()
    header = [
        "# Benchmarks",
        "",
        f"Measured by `bench/run_benchmarks.py --build {args.build}` on "
        f"{datetime.now().strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Linux {uname.release}, "
        "127.0.0.1 only, every figure from one run (side by side where compared). "
        "Run it again with `--out docs/benchmarks.md` to refresh this table; the notes below the "
        "marker line are kept.",
        "",
    ]
    report = header + ["| figure | measured |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        notes = ""
        if os.path.exists(args.out):
            with open(args.out) as f:
                old = f.read()
            if NOTES_MARKER in old:
                notes = old[old.index(NOTES_MARKER):]
        with open(args.out, "w") as f:
            f.write(text + "\n" + (notes or NOTES_MARKER + "\n"))


if __name__ == "__main__":
    sys.exit(main())
