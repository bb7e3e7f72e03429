#!/usr/bin/python3
"""Draws a worker leaking memory under the supervisor: docs/benchmark-leak.png.

Runs the real binaries from build/ (scripts/setup.sh first) on 127.0.0.1: the supervisor guards
the real worker with MEMORY_LIMIT_MB=200 and the other memory variables at their defaults
(standard cleanup at 70 %, emergency at 85 %, restart at 95 %, 30 s cooldown, 15 s emergency
grace), DEBUG_ENDPOINTS=true. The bench leaks through /debug/ballast: 4 MB/s that a cleanup frees
(a standard cleanup half of it, an emergency cleanup all) and 1 MB/s pinned that only a restart
cures, so the chart shows the cleanups buying time and the restart ending it. The figures come
from the supervisor's own history (the `history` command on DATA_DIR/supervisor.sock, what
/dashboard reads), not from this script's sampling.

  bench/leak_chart.py [--build build] [--seconds 150] [--png docs/benchmark-leak.png]
                      [--screenshot docs/dashboard.png]

--screenshot also takes the README's picture of /dashboard with headless Chromium at the end of
the run. Needs Debian's python3-matplotlib (and chromium for --screenshot); runs in about
--seconds plus 15 s.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("leak_chart.py: needs matplotlib: apt-get install python3-matplotlib "
             "(and run it with Debian's /usr/bin/python3)")

LIMIT_MB = 200
MIB = 1024 * 1024
COLORS = {  # the dashboard's (worker/metrics/dashboard_svg.h)
    "memory": "#1c7ed6", "fill": "#d0ebff",
    "standard": "#e0a800", "emergency": "#f76707", "restart": "#e03131",
    "start": "#2f9e44", "cleanup-standard": "#1098ad", "cleanup-emergency": "#ae3ec9",
    "restart-mark": "#c2255c", "exit": "#000000",
}


def control(data_dir, request, timeout=5):
    """One request line to the supervisor's control socket; the JSON answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(os.path.join(data_dir, "supervisor.sock"))
        s.sendall(request.encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"leak_chart.py: timed out waiting for {what}")


def post(port, path):
    """POST without a body; the status, or None when the worker did not answer (restarting)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def leak(port, seconds):
    """4 MB/s freeable (2 MB every 0.5 s) and 1 MB/s pinned."""
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        post(port, "/debug/ballast?mb=2")
        if tick % 2 == 0:
            post(port, "/debug/ballast?mb=1&pinned=1")
        tick += 1
        next_at = start + tick * 0.5
        time.sleep(max(0.0, next_at - time.monotonic()))


def dashboard_latency(port, count=200):
    """GET /dashboard `count` times on one connection: (p50 ms, p99 ms, page bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", "/dashboard")
        res = conn.getresponse()
        size = len(res.read())
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1], size


def plot(history, png):
    points = history["points"]
    events = history["events"]
    t0 = points[0][0]
    xs = [(p[0] - t0) / 1000 for p in points]
    lo = [p[2] / MIB for p in points]
    hi = [p[3] / MIB for p in points]
    limit_mb = history["limit"] / MIB
    th = history["thresholds"]

    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=100)
    ax.fill_between(xs, 0, hi, color=COLORS["fill"], step="post", linewidth=0)
    ax.fill_between(xs, lo, hi, color=COLORS["memory"], alpha=0.35, step="post", linewidth=0)
    ax.step(xs, hi, where="post", color=COLORS["memory"], linewidth=1.6,
            label=f"worker memory ({history['source']}, highest sample per second)")
    for name in ("standard", "emergency", "restart"):
        ax.axhline(limit_mb * th[name] / 100, color=COLORS[name], linestyle="--", linewidth=1.2,
                   label=f"{name} threshold {th[name]:g} %")
    ax.axhline(limit_mb, color="#495057", linewidth=0.8)
    marks = {"start": "worker start", "cleanup-standard": "standard cleanup",
             "cleanup-emergency": "emergency cleanup", "restart": "restart", "exit": "exit"}
    seen = set()
    for e in events:
        x = (e["time"] - t0) / 1000
        color = COLORS["restart-mark" if e["kind"] == "restart" else e["kind"]]
        label = marks[e["kind"]] if e["kind"] not in seen else None
        seen.add(e["kind"])
        ax.axvline(x, color=color, linewidth=1.4, label=label)
        text = marks[e["kind"]] + (f" ({e['detail']})" if e["detail"] else "")
        # A restart's new worker starts within a second: its label goes to the other side.
        ax.annotate(text, (x, limit_mb * 1.02), rotation=90, fontsize=7, color=color,
                    ha="left" if e["kind"] == "start" else "right", va="bottom")
    ax.set_xlim(-3, xs[-1] + 2)
    ax.set_ylim(0, limit_mb * 1.42)
    ax.set_xlabel("seconds")
    ax.set_ylabel("MB")
    ax.set_title(f"a worker leaking 5 MB/s (1 MB/s of it pinned) under MEMORY_LIMIT_MB="
                 f"{limit_mb:g}", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7, ncol=5,
              frameon=False)
    ax.grid(True, color="#e9ecef")
    fig.tight_layout()
    fig.savefig(png)


def screenshot(port, out, scratch):
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("leak_chart.py: --screenshot needs chromium (apt-get install chromium)")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={scratch}/chromium", "--hide-scrollbars",
         "--force-device-scale-factor=1", "--window-size=1000,1000", f"--screenshot={out}",
         f"http://127.0.0.1:{port}/dashboard"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--png", default="docs/benchmark-leak.png")
    parser.add_argument("--screenshot", default="")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="dg-leak-")
    data_dir = os.path.join(scratch, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1",
           "PORT": str(port), "DATA_DIR": data_dir, "MEMORY_LIMIT_MB": str(LIMIT_MB),
           "DEBUG_ENDPOINTS": "true", "LOG_FORMAT": "text"}
    log = open(os.path.join(scratch, "supervisor.log"), "w")
    sup = subprocess.Popen([os.path.join(args.build, "supervisor"), "start", "--",
                            os.path.join(args.build, "worker")],
                           env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: control(data_dir, "status")["worker"]["ready"], 30, "the worker")
        rss_before = vm_rss_kb(sup.pid)
        leak(port, args.seconds)
        time.sleep(3)
        history = control(data_dir, "history")
        rss_after = vm_rss_kb(sup.pid)
        p50, p99, page_bytes = dashboard_latency(port)
        if args.screenshot:
            screenshot(port, args.screenshot, scratch)
        status = control(data_dir, "status")
    finally:
        sup.terminate()
        sup.wait(timeout=30)
        log.close()
    plot(history, args.png)

    kinds = [e["kind"] for e in history["events"]]
    peak = max(p[3] for p in history["points"]) / history["limit"] * 100
    print(f"- chart: `{args.png}` ({args.seconds:g} s, {len(history['points'])} points, "
          f"{len(history['events'])} events)")
    print(f"- cleanups: {kinds.count('cleanup-standard')} standard, "
          f"{kinds.count('cleanup-emergency')} emergency; restarts: {kinds.count('restart')} "
          f"(reasons: {', '.join(e['detail'] for e in history['events'] if e['kind'] == 'restart')}"
          f"); exits: {kinds.count('exit')}; supervisor restarts: {status['restarts']}")
    print(f"- highest sample: {peak:.1f} % of the budget")
    print(f"- supervisor VmRSS: {rss_before} kB after start, {rss_after} kB after the run")
    print(f"- history answer: {len(json.dumps(history))} bytes of JSON")
    print(f"- GET /dashboard, 200 sequential on one connection (the supervisor asked at most "
          f"once a second): p50 {p50:.2f} ms, p99 {p99:.2f} ms, {page_bytes} bytes")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
