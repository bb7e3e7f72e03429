#!/usr/bin/env python3
"""Measures dynoguard's figures on this machine and prints a Markdown report.

Runs the real binaries from build/ (scripts/setup.sh first; `storm` also needs the test_worker
target): the supervisor guarding the worker on the sandbox transport, on 127.0.0.1 only.
Everything is bounded in count and time; the whole run takes about 5 minutes.

  bench/run_benchmarks.py [--build build] [--only base,hardening,...] [--cpu-seconds 60]
                          [--kills 10] [--rounds 3] [--leak-runs 3] [--out docs/benchmarks.md]
                          [--baseline-worker OLD/worker --baseline-label "worker at COMMIT"]

Sections (--only; --out needs them all, so that every row of the table is from one run):
  base       worker idle RSS (and where libcrypto's pages sit), supervisor RSS and CPU time over
             --cpu-seconds at the default poll; RSS after 10,000 /health; wrk -t2 -c16 -d10s;
             POST /api/messages latency (p50/p99) including the durable write; requests failed
             by 3 graceful restarts under wrk load and how long a worker takes to stop on SIGTERM
  bare       a bare cpp-httplib server (bench/bare_httplib.cc, built here with g++ against the
             same Debian library): the HTTP and memory floor
  hardening  /health p50/p99 (2,000 sequential on one keep-alive connection, and wrk -t2 -c16
             -d10s --latency, median of --rounds) while 8 slowloris clients (one header byte a
             second) and 500 idle connections are connected; the same wrk figure with no attack,
             alternating with the bare server in the same run
  chunked    the worker's VmHWM before and after a client streams a 200 MB chunked body to
             POST /health (a 413 is expected early)
  storm      restarts in the first --storm-seconds of a worker that starts above 95 % of its
             budget (test_worker growing 195 MB under MEMORY_LIMIT_MB=200)
  leak       how far a worker leaking 50 MB/s gets past a 150 MB budget at the defaults
             (median of --leak-runs, as a multiple of the limit) and at MEMORY_POLL_MS=100
  kill       SIGKILL of the worker → the new worker's READY=1 (median of --kills), at the
             defaults and at RESTART_BACKOFF_MIN_MS=10
  enqueue    POST /api/messages (durable: committed before the 202) under wrk -t2 -c16 -d10s
             --latency, distinct `to`s, template bodies; alternating with an Express app that
             pushes to an array and answers 202 (the in-memory comparison; Debian's node-express,
             found through NODE_PATH=/usr/share/nodejs) and with the bare cpp-httplib server's same
             in-memory POST (the ceiling of a POST on this library); req/s and p50/p99, median of --rounds,
             and the queue's row count checked against the 202s; with --baseline-worker, that
             worker's runs alternate too
  session    the session snapshot (bench/session_bench.cc, median of 21): encode + compress +
             encrypt, the atomic file write, restore (read + decrypt + decode) of a 512 KB
             session, the document's size against the raw JSON, the size cap at work

The box is shared: quote medians and the ratios measured side by side, not single figures.
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
import select
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


def mapping_kb(pid, name):
    """Rss and shared (Shared_Clean + Shared_Dirty) kB of the mappings whose path contains
    `name`, from /proc/PID/smaps."""
    rss = shared = 0
    current = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and not parts[0].endswith(":"):
                current = parts[5] if len(parts) > 5 else ""
            elif name in current:
                if parts[0] == "Rss:":
                    rss += int(parts[1])
                elif parts[0] in ("Shared_Clean:", "Shared_Dirty:"):
                    shared += int(parts[1])
    return rss, shared


def processes_mapping(name, exclude):
    """Other processes (those this user may read) that map a file whose path contains `name`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/maps") as f:
                if name in f.read():
                    with open(f"/proc/{entry}/comm") as c:
                        found.append(c.read().strip())
        except OSError:
            pass
    return found


def idle_rss_detail(pid):
    """Where the idle worker's RSS sits: libcrypto's resident and shared pages (the worker hands
    libcrypto's pages back with MADV_PAGEOUT, which cannot reclaim a page another process maps),
    and who else maps libcrypto right now."""
    crypto_rss, crypto_shared = mapping_kb(pid, "libcrypto")
    others = processes_mapping("libcrypto", {pid, os.getpid()})
    names = ", ".join(sorted(set(others))) or "none"
    return (f"; libcrypto {crypto_rss / 1024:.1f} MB resident, {crypto_shared / 1024:.1f} MB of it "
            f"shared; {len(others)} other processes map libcrypto now ({names})")


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

    def __init__(self, build, extra_env=None, command=None):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="dg-bench-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "log")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1",
               "PORT": str(self.port), "DATA_DIR": self.dir, "MEMORY_LIMIT_MB": "512"}
        env.update(extra_env or {})
        self.env = env
        self.log = open(self.log_path, "w")
        argv = [os.path.join(build, "supervisor"), "start"]
        if command:  # another worker binary, spoken to as the worker is
            env.update({"LISTEN_SOCKET": "pass", "WORKER_READY": "notify",
                        "CLEANUP_SIGNALS": "SIGUSR1,SIGUSR2"})
            argv += ["--", command]
        self.proc = subprocess.Popen(argv, env=env,
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
            m = g.wait_log(r"(\S+) info supervisor: ready pid=(\d+)[^\n]*", 20, start)
            total = (log_time(m.group(0)) - killed_at) * 1000
            startup = re.search(r"startup=([\d.]+)(ms|s)", m.group(0))
            own = (float(startup.group(1)) * (1000 if startup.group(2) == "s" else 1)
                   if startup else float("nan"))
            samples.append((total, own))
        finally:
            g.stop()
    return samples  # (SIGKILL → READY ms, the new worker's own spawn → READY ms)


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
        # A template: a free-form text needs the contact's 24-hour window open.
        body = json.dumps({"to": "15551234567", "template": {
            "name": "hello_world", "language": {"code": "en_US"}}})
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


def parse_duration_ms(text):
    """wrk's latency figures: 431.00us, 2.50ms, 1.02s → milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_latency(port, seconds=10, connections=16):
    """wrk -t2 -cN -dS --latency on /health: requests/s, p50 and p99 (ms), failed requests."""
    out = subprocess.check_output(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                                   f"http://127.0.0.1:{port}/health"], text=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_duration_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = parse_duration_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    socket_errors = [0, 0, 0, 0]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        socket_errors = [int(x) for x in m.groups()]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    return {"rps": rps, "p50": p50, "p99": p99, "total": total, "non2xx": non2xx,
            "socket_errors": socket_errors, "errors": non2xx + sum(socket_errors)}


def sequential_latency(port, count):
    """`count` sequential GET /health on one keep-alive connection: per-request ms, failures.
    A connection the server closes (or an answer that is not 200) counts as a failure and the
    client reconnects."""
    samples, failures = [], 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            continue
        samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return samples, failures


class Attack:
    """8 slowloris clients (one header byte a second, a new connection when the server closes
    one) and 500 idle connections (none sends a byte; those the server closes are opened again
    once a second), all to 127.0.0.1:port. Bounded: stop() ends it, and it never holds more than
    8 + 500 sockets."""

    HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port, slow=8, idle=500):
        self.port, self.idle_target = port, idle
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.idle = []
        self.slow_connections = 0   # connections the slowloris clients opened in all
        self.idle_reopened = 0      # idle connections the server closed and the attack reopened
        self.open_samples = []      # idle connections open, sampled once a second
        self.threads = [threading.Thread(target=self._slowloris, daemon=True) for _ in range(slow)]
        self.threads.append(threading.Thread(target=self._idle, daemon=True))
        for t in self.threads:
            t.start()

    def _slowloris(self):
        while not self.stopping.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                self.stopping.wait(1)
                continue
            with self.lock:
                self.slow_connections += 1
            i = 0
            try:
                while not self.stopping.is_set():
                    s.send(self.HEAD[i:i + 1] if i < len(self.HEAD) else b"a")
                    i += 1
                    self.stopping.wait(1)
                    # The server answers 408 (or just closes) when the head deadline passes.
                    readable, _, _ = select.select([s], [], [], 0)
                    if readable and not s.recv(4096):
                        break
            except OSError:
                pass
            finally:
                s.close()

    def _idle(self):
        first = True
        while not self.stopping.is_set():
            alive = []
            for s in self.idle:
                try:
                    readable, _, _ = select.select([s], [], [], 0)
                    if readable and not s.recv(4096, socket.MSG_PEEK):
                        s.close()
                        continue
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            missing = self.idle_target - len(alive)
            for _ in range(missing):
                if self.stopping.is_set():
                    break
                try:
                    alive.append(socket.create_connection(("127.0.0.1", self.port), timeout=2))
                except OSError:
                    break
            if not first:
                self.idle_reopened += missing
            first = False
            self.idle = alive
            self.open_samples.append(len(alive))
            self.stopping.wait(1)

    def summary(self):
        samples = self.open_samples[1:] or self.open_samples
        return (f"idle connections open per 1 s sweep: median {statistics.median(samples):.0f} "
                f"of 500, {self.idle_reopened:,} reopened after the server closed them; "
                f"slowloris connections opened: {self.slow_connections}")

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(10)
        for s in self.idle:
            s.close()


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def fmt_wrk_runs(runs):
    p50 = " / ".join(f"{r['p50']:.2f}" for r in runs)
    p99 = " / ".join(f"{r['p99']:.2f}" for r in runs)
    errors = sum(r["errors"] for r in runs)
    total = sum(r["total"] for r in runs)
    failed = f"{errors} failed of {total:,}"
    if errors:
        non2xx = sum(r["non2xx"] for r in runs)
        kinds = [sum(r["socket_errors"][i] for r in runs) for i in range(4)]
        failed += (f": {non2xx} non-2xx, socket errors connect {kinds[0]}, read {kinds[1]}, "
                   f"write {kinds[2]}, timeout {kinds[3]}")
    return (f"p50 {median_of(runs, 'p50'):.2f} ms, p99 {median_of(runs, 'p99'):.2f} ms, "
            f"{median_of(runs, 'rps'):,.0f} requests/s (median of {len(runs)}: p50 {p50}, "
            f"p99 {p99} ms; {failed})")


def hardening_rows(build, rounds):
    """/health under attack and without, side by side with the bare cpp-httplib server."""
    rows = []
    if shutil.which("wrk") is None:
        return [("/health latency (hardening)", "wrk missing: apt-get install -y wrk")]
    g = Guarded(build)
    bare = BareHttplib()
    try:
        time.sleep(1)
        worker_runs, bare_runs = [], []
        for _ in range(rounds):
            worker_runs.append(wrk_latency(g.port))
            bare_runs.append(wrk_latency(bare.port))
        rows.append(("/health, wrk -t2 -c16 -d10s --latency, no attack: worker",
                     fmt_wrk_runs(worker_runs)))
        rows.append(("/health, wrk -t2 -c16 -d10s --latency, no attack: bare cpp-httplib server "
                     "(same run, alternating with the worker)", fmt_wrk_runs(bare_runs)))
        attack = Attack(g.port)
        try:
            time.sleep(3)
            samples, failures = sequential_latency(g.port, 2000)
            rows.append(("/health during the attack (8 slowloris clients + 500 idle connections): "
                         "2,000 sequential on one keep-alive connection",
                         f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms, "
                         f"max {max(samples):.1f} ms ({failures} failed)"))
            attacked = [wrk_latency(g.port) for _ in range(rounds)]
            rows.append(("/health during the attack: wrk -t2 -c16 -d10s --latency",
                         fmt_wrk_runs(attacked)))
            worker = g.status()["worker"]["pid"]
            rows.append(("the attack, as the worker saw it",
                         f"{attack.summary()}; worker RSS {rss_kb(worker) / 1024:.1f} MB, "
                         f"VmHWM {hwm_kb(worker) / 1024:.1f} MB"))
        finally:
            attack.stop()
    finally:
        bare.stop()
        g.stop()
    return rows


def hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def chunked_body_rows(build, total_mb=200):
    """A client streams a `total_mb` chunked body to POST /health: the worker's VmHWM before and
    after, when the answer came and what it was."""
    g = Guarded(build)
    try:
        time.sleep(1)
        worker = g.status()["worker"]["pid"]
        before_hwm, before_rss = hwm_kb(worker), rss_kb(worker)
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        s.sendall(b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
        s.setblocking(False)
        sent, answer, answered_after, closed_after = 0, b"", None, None
        deadline = time.time() + 60
        while sent < total_mb * 1024 * 1024 and time.time() < deadline:
            readable, writable, _ = select.select([s], [s], [], 5)
            if readable:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    closed_after = sent
                    break
                if answered_after is None:
                    answered_after = sent
                answer += data
                continue
            if writable:
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after = sent
                    break
            if not readable and not writable:
                break
        s.close()
        time.sleep(0.5)
        after_hwm, after_rss = hwm_kb(worker), rss_kb(worker)
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "no answer"
        answered = (f"after {answered_after / 1e6:.2f} MB sent" if answered_after is not None
                    else "no answer")
        closed = (f"connection closed after {closed_after / 1e6:.1f} MB"
                  if closed_after is not None else f"client stopped at {sent / 1e6:.0f} MB")
        return [(f"worker VmHWM while a client streams a {total_mb} MB chunked body to POST /health",
                 f"{before_hwm / 1024:.1f} MB before, {after_hwm / 1024:.1f} MB after "
                 f"(RSS {before_rss / 1024:.1f} → {after_rss / 1024:.1f} MB); `{status}` "
                 f"{answered}, {closed}")]
    finally:
        g.stop()


def restart_storm_rows(build, seconds=60):
    """A worker that starts above 95 % of its budget (test_worker growing 195 MB under a 200 MB
    limit): restarts counted over the first `seconds`."""
    d = tempfile.mkdtemp(prefix="dg-bench-storm-")
    log_path = os.path.join(d, "log")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATA_DIR": d,
           "MEMORY_LIMIT_MB": "200", "TEST_WORKER_GROW_AT_START": "195", "LISTEN_SOCKET": "pass",
           "WORKER_READY": "notify", "CLEANUP_SIGNALS": "SIGUSR1,SIGUSR2", "PORT": "0",
           "HOST": "127.0.0.1"}
    test_worker = os.path.join(build, "test_worker")
    if not os.path.exists(test_worker):
        return [("restarts per minute, worker starting above 95 %",
                 f"{test_worker} missing (build the test_worker target)")]
    with open(log_path, "w") as log:
        proc = subprocess.Popen([os.path.join(build, "supervisor"), "start", "--", test_worker],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    with open(log_path) as f:
        text = f.read()
    shutil.rmtree(d, ignore_errors=True)
    lines = [line for line in text.splitlines() if " supervisor: " in line]
    start = log_time(lines[0])
    first = [line for line in lines if log_time(line) - start <= seconds]
    restarts = sum(1 for line in first if re.search(r"supervisor: restart reason=", line))
    spawns = sum(1 for line in first if re.search(r"supervisor: spawn ", line))
    hint = "hint line logged" if "starts above the restart threshold" in text else "NO hint line"
    delays = re.findall(r"supervisor: throttle delay=(\S+)", text)
    loops = sum(1 for line in first if "supervisor: crash-loop" in line)
    return [(f"restarts in the first {seconds} s, worker starting above 95 % "
             "(MEMORY_LIMIT_MB=200, test_worker grows 195 MB at start)",
             f"{restarts} restarts, {spawns} spawns; {hint} (\"starts above the restart "
             f"threshold\"), {loops} crash-loop reports, spawn delays {', '.join(delays[:12])}")]


# wrk's script for the enqueue section: every request a template message (the 24-hour rule lets
# templates through) to a recipient of its own: "1" + run (2 digits) + wrk thread + 8-digit count.
ENQUEUE_LUA = r"""
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  run = tonumber(args[1]) or 0
  counter = 0
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"to":"1%02d%d%08d","template":{"name":"hello_world","language":{"code":"en_US"}}}',
    run % 100, tid, counter)
  return wrk.format("POST", "/api/messages", {["Content-Type"] = "application/json"}, body)
end
"""

# The comparison: Express's in-memory POST (push to an array, answer 202).
EXPRESS_JS = r"""
const express = require('express');
const app = express();
app.use(express.json());
const queue = [];
app.post('/api/messages', (req, res) => {
  const id = 'msg_' + (queue.length + 1);
  queue.push({ id, to: req.body.to, template: req.body.template, status: 'queued' });
  res.status(202).json({ id, status: 'queued' });
});
app.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));
"""


class ExpressApp:
    """EXPRESS_JS under node on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dg-express-")
        script = os.path.join(self.dir, "app.js")
        with open(script, "w") as f:
            f.write(EXPRESS_JS)
        env = dict(os.environ)
        env["NODE_PATH"] = ":".join(p for p in (env.get("NODE_PATH"), "/usr/share/nodejs") if p)
        self.port = free_port()
        self.proc = subprocess.Popen(["node", script, str(self.port)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"express app did not start: {line.strip()} (apt-get install "
                               "node-express)")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk_post(port, script, run):
    """wrk -t2 -c16 -d10s --latency posting ENQUEUE_LUA's bodies: (req/s, p50 ms, p99 ms, 2xx
    answers, other answers and socket errors)."""
    out = subprocess.check_output(["wrk", "-t2", "-c16", "-d10s", "--latency", "-s", script,
                                   f"http://127.0.0.1:{port}/api/messages", "--", str(run)],
                                  text=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        bad += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        bad += sum(int(x) for x in m.groups())

    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, ms(50), ms(99), total - bad, bad


def enqueue_rows(args):
    """POST /api/messages at wrk -c16: the worker (every 202 committed, fsync'd) and Express's
    in-memory POST alternating, --rounds each; then the worker's row count against its 202s."""
    if shutil.which("wrk") is None:
        return [("POST /api/messages, wrk -t2 -c16 -d10s", "wrk missing")]
    rows = []
    g = Guarded(args.build)
    express = None
    bare = None
    old = Guarded(args.build, command=args.baseline_worker) if args.baseline_worker else None
    script_dir = tempfile.mkdtemp(prefix="dg-enqueue-")
    script = os.path.join(script_dir, "post.lua")
    with open(script, "w") as f:
        f.write(ENQUEUE_LUA)
    try:
        try:
            express = ExpressApp()
        except (OSError, RuntimeError) as e:
            rows.append(("Express in-memory POST /api/messages", f"not measured: {e}"))
        try:
            bare = BareHttplib()
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            rows.append(("bare cpp-httplib in-memory POST /api/messages", f"not measured: {e}"))
        worker_runs, express_runs, old_runs, bare_runs = [], [], [], []
        for run in range(args.rounds):
            worker_runs.append(wrk_post(g.port, script, run))
            if express:
                express_runs.append(wrk_post(express.port, script, run))
            if bare:
                bare_runs.append(wrk_post(bare.port, script, run))
            if old:
                old_runs.append(wrk_post(old.port, script, run))

        def fmt(runs):
            med = lambda i: statistics.median(r[i] for r in runs)
            return (f"{med(0):,.0f} requests/s, p50 {med(1):.2f} ms, p99 {med(2):.2f} ms "
                    f"(median of {len(runs)}; runs {', '.join(f'{r[0]:,.0f}/s p99 {r[2]:.2f} ms' for r in runs)}; "
                    f"{sum(r[4] for r in runs)} failed)")
        rows.append(("POST /api/messages (durable, group commit), wrk -t2 -c16 -d10s --latency, "
                     "distinct recipients, template bodies: worker", fmt(worker_runs)))
        if old_runs:
            rows.append((f"the same against `{args.baseline_label}`, same run, alternating",
                         fmt(old_runs)))
        if express_runs:
            rows.append(("the same against Express 4 in memory (push to an array, 202), same run, "
                         "alternating", fmt(express_runs)))
            ratio = (statistics.median(r[0] for r in worker_runs) /
                     statistics.median(r[0] for r in express_runs))
            rows.append(("worker / Express requests/s", f"{ratio:.2f}×"))
        if bare_runs:
            rows.append(("the same against the bare cpp-httplib server's in-memory POST (parse, push "
                         "to a vector, 202; bench/bare_httplib.cc), same run, alternating: the "
                         "ceiling of a POST on this library and box", fmt(bare_runs)))
            if express_runs:
                ceiling = (statistics.median(r[0] for r in bare_runs) /
                           statistics.median(r[0] for r in express_runs))
                rows.append(("bare in-memory POST / Express requests/s (what a POST that does "
                             "nothing durable reaches)", f"{ceiling:.2f}×"))
        import sqlite3  # the standard library's; opened read-only beside the running worker
        db = sqlite3.connect(f"file:{os.path.join(g.dir, 'queue.db')}?mode=ro", uri=True)
        stored = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        db.close()
        acknowledged = sum(r[3] for r in worker_runs)
        rows.append(("queue rows after those runs / 202s the worker answered",
                     f"{stored:,} / {acknowledged:,} "
                     f"({'every 202 stored' if stored >= acknowledged else 'MISSING ROWS'})"))
    finally:
        if express:
            express.stop()
        if bare:
            bare.stop()
        if old:
            old.stop()
        g.stop()
        shutil.rmtree(script_dir, ignore_errors=True)
    return rows


SECTIONS = ("base", "bare", "hardening", "chunked", "storm", "leak", "kill", "enqueue",
            "session")


def session_rows(args):
    """The session snapshot's figures from bench/session_bench.cc (built with the test suite)."""
    exe = os.path.join(args.build, "session_bench")
    out = subprocess.check_output([exe, "--bytes", "524288", "--runs", "21", "--dir", args.build])
    r = json.loads(out)
    kb = 1024
    session = (f"{r['raw_bytes'] / kb:.0f} KB of raw JSON: {r['pending']} pending, "
               f"{r['awaiting_status']} awaiting a status, {r['outbox']} forwarding events, "
               f"{r['seen']} dedup keys, {r['windows']} windows")
    return [
        ("session snapshot: encode + compress + encrypt (AES-256-GCM) of a 512 KB session "
         f"({session})", f"{r['encode_ms']:.1f} ms, of it the raw JSON {r['json_ms']:.1f} ms (median of "
         f"{r['runs']})"),
        ("session snapshot: the atomic file write (temp file, fsync, rename, fsync of the "
         "directory)", f"{r['write_ms']:.1f} ms"),
        ("session snapshot: encode + write, one step", f"{r['encode_write_ms']:.1f} ms "
         "(goal ≤ 20 ms)"),
        ("session snapshot: restore (read the file, decrypt, inflate, checksum, parse)",
         f"{r['restore_ms']:.1f} ms (goal ≤ 50 ms; decode alone {r['decode_ms']:.1f} ms)"),
        ("session snapshot: without a key, encode / decode",
         f"{r['plain_encode_ms']:.1f} ms / {r['plain_decode_ms']:.1f} ms"),
        ("session snapshot: document size against the raw JSON",
         f"{r['document_bytes'] / kb:.0f} KB encrypted ({r['document_bytes'] / r['raw_bytes']:.2f}× "
         f"the raw {r['raw_bytes'] / kb:.0f} KB), {r['plain_document_bytes'] / kb:.0f} KB without "
         "a key"),
        ("session snapshot: header read / state digest (the autosave's change check)",
         f"{r['header_ms']:.2f} ms / {r['digest_ms']:.1f} ms"),
        (f"session snapshot: size cap, a {r['budget_raw_bytes'] / kb:.0f} KB session to 512 KiB "
         "(SESSION_MAX_BYTES' default)",
         f"{r['budget_ms']:.0f} ms, {r['budget_encodes']} encodes, {r['budget_dropped']} oldest "
         f"entries dropped, document {r['budget_bytes'] / kb:.0f} KB"),
    ]


def base_rows(args):
    """The guarded worker's memory, the supervisor's memory and idle CPU, /health and POST
    figures, graceful restarts under load."""
    rows = []
    g = Guarded(args.build)
    try:
        time.sleep(2)
        worker = g.status()["worker"]["pid"]
        sup = g.proc.pid
        rows.append(("worker idle RSS (sandbox)", memory_figure(worker) + idle_rss_detail(worker)))
        rows.append(("supervisor RSS while guarding", memory_figure(sup)))
        if args.baseline_worker:
            # The same figure for another worker binary (an older commit), right after this one.
            b = Guarded(args.build, command=args.baseline_worker)
            try:
                time.sleep(2)
                old = b.status()["worker"]["pid"]
                rows.append((f"baseline worker idle RSS (`{args.baseline_label}`, same run, "
                             "same supervisor)", memory_figure(old) + idle_rss_detail(old)))
            finally:
                b.stop()
        t0, c0 = time.time(), cpu_ticks(sup)
        time.sleep(args.cpu_seconds)
        ticks = cpu_ticks(sup) - c0
        hz = os.sysconf("SC_CLK_TCK")
        rows.append((f"supervisor CPU time over {args.cpu_seconds} s, idle worker (defaults: poll "
                     "1000 ms, 100 ms above the standard threshold)",
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
    return rows


def bare_rows(args):
    rows = []
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
    return rows


def leak_rows(args):
    rows = []
    limit = 150
    runs = [leak_reaction(args.build, limit, 50) for _ in range(args.leak_runs)]
    peaks = [peak for peak, _ in runs]
    runs.sort()  # the quoted restart line is the median run's
    rows.append((f"worker leaking 50 MB/s, {limit} MB budget (defaults: poll 1000 ms, "
                 "MEMORY_POLL_FAST_MS=100 above the standard threshold): highest RSS before the "
                 "restart",
                 f"median {statistics.median(peaks):.0f} MB = {statistics.median(peaks) / limit:.3f}× "
                 f"the limit (runs: {', '.join(f'{p:.0f}' for p in peaks)} MB; max "
                 f"{max(peaks) / limit:.3f}×; `{runs[len(runs) // 2][1]}`)"))
    peak, line = leak_reaction(args.build, limit, 50, 100)
    rows.append((f"worker leaking 50 MB/s, {limit} MB budget (MEMORY_POLL_MS=100): highest RSS "
                 "before the restart", f"{peak:.0f} MB = {peak / limit:.3f}× the limit (`{line}`)"))
    return rows


def kill_rows(args):
    rows = []
    for label, env in (("defaults (a first crash is respawned at once)", {}),
                       ("RESTART_BACKOFF_MIN_MS=10", {"RESTART_BACKOFF_MIN_MS": "10"})):
        pairs = measure_restart(args.build, env, args.kills)
        samples = [total for total, _ in pairs]
        gaps = [total - own for total, own in pairs]
        own = statistics.median(o for _, o in pairs)
        rows.append((f"SIGKILL of the worker → new worker READY=1, {label}",
                     f"median {statistics.median(samples):.0f} ms (min {min(samples):.0f}, max {max(samples):.0f}, n={len(samples)}); "
                     f"of it the new worker's own spawn → READY median {own:.0f} ms, the rest "
                     f"(SIGKILL → spawn) median {statistics.median(gaps):.0f} ms"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--cpu-seconds", type=int, default=60)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="wrk runs per hardening figure (the median is quoted)")
    parser.add_argument("--leak-runs", type=int, default=3)
    parser.add_argument("--storm-seconds", type=int, default=60)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS) +
                        " (hardening = /health under slowloris + idle connections; chunked = "
                        "VmHWM under a 200 MB chunked body; storm = restarts of a worker "
                        "starting above 95 %%)")
    parser.add_argument("--baseline-worker",
                        help="another worker binary (e.g. an older commit's) whose idle RSS is "
                        "measured right after this one's (base section) and whose POST "
                        "/api/messages runs alternate with this one's (enqueue section)")
    parser.add_argument("--baseline-label", default="baseline",
                        help="how the table names --baseline-worker (e.g. a commit)")
    parser.add_argument("--out")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in only if x not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.out and set(only) != set(SECTIONS):
        parser.error("--out writes the whole table: run every section (no --only)")

    runners = {
        "base": base_rows,
        "bare": bare_rows,
        "hardening": lambda a: hardening_rows(a.build, a.rounds),
        "chunked": lambda a: chunked_body_rows(a.build),
        "storm": lambda a: restart_storm_rows(a.build, a.storm_seconds),
        "leak": leak_rows,
        "kill": kill_rows,
        "enqueue": enqueue_rows,
        "session": session_rows,
    }
    rows = []
    for section in SECTIONS:
        if section in only:
            started = time.time()
            rows += runners[section](args)
            print(f"[{section}: {time.time() - started:.0f} s]", file=sys.stderr, flush=True)

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
