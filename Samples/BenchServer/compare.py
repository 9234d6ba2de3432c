"""Run `parley bench` against the Swift BenchServer and its python-socketio twin, side by side.

Usage (after `swift build -c release` and with the
test venv that Tests/run.sh creates):

    .build/venv/bin/python Samples/BenchServer/compare.py [--quick]

Each server runs pinned to core 0 and the load generator to core 1 (taskset), so the figures
that matter are the server's CPU microseconds per message, read from /proc by the generator.
Every scenario starts a fresh server. Prints one markdown table, with DESIGN.md's target for
Parley next to each row, and writes every JSON line to .build/bench/compare.jsonl.

With --recovery it compares Parley with itself instead: the BenchServer with connection state
recovery off (--no-recovery) and on (a fresh SQLite file in a temporary directory per run), on
the emits recovery logs (room fan-out, and emits that each reach one socket); python is not
run. The JSON lines go to .build/bench/compare-recovery.jsonl.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".build" / "release"


def start_server(kind, extra=()):
    if kind == "parley":
        command = [str(RELEASE / "BenchServer"), "--port", "0", *extra]
    else:
        command = [sys.executable, str(ROOT / "Samples/BenchServer/python/bench_server.py"), "--port", "0"]
    process = subprocess.Popen(["taskset", "-c", "0", *command], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    url = line.rsplit(" ", 1)[-1].rstrip("/")
    return process, url


def bench(url, pid, scenario, *arguments):
    command = ["taskset", "-c", "1", str(RELEASE / "parley"), "bench", scenario, "--url", url, "--server-pid", str(pid), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def stop_server(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--recovery", action="store_true", help="Parley with connection state recovery off vs on (SQLite), no python")
    parser.add_argument(
        "--single-socket-rate", type=int, action="append",
        help="with --recovery: rate(s) of the emits that each reach one socket (repeatable; default 10000 and 25000)",
    )
    options = parser.parse_args()
    seconds = "3" if options.quick else "10"
    if options.recovery:
        compare_recovery(seconds, options.single_socket_rate or [10_000, 25_000])
        return
    scenarios = [
        ("echo, max rate (closed loop, 50 clients)", "echo", ["--rate", "0", "--clients", "50", "--duration", seconds]),
        ("echo 1 000/s", "echo", ["--rate", "1000", "--clients", "50", "--duration", seconds]),
        ("echo 5 000/s", "echo", ["--rate", "5000", "--clients", "50", "--duration", seconds]),
        ("echo 10 000/s", "echo", ["--rate", "10000", "--clients", "50", "--duration", seconds]),
        ("fanout 1 000 × 100/s × 100 B", "fanout", ["--clients", "1000", "--rate", "100", "--payload-bytes", "100", "--duration", seconds]),
        ("polling round trips, 50 clients", "polling", ["--clients", "50", "--duration", seconds]),
        ("connect 10 000", "connect", ["--clients", "10000", "--rate", "2000", "--hold", "2", "--source-addresses", "127.0.0.1,127.0.0.2,127.0.0.3"]),
    ]
    out = ROOT / ".build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    with open(out / "compare.jsonl", "w") as log:
        for kind in ("parley", "python-socketio"):
            for title, scenario, arguments in scenarios:
                process, url = start_server(kind)
                try:
                    figures = bench(url, process.pid, scenario, *arguments)
                finally:
                    stop_server(process)
                figures["server"] = kind
                figures["title"] = title
                log.write(json.dumps(figures) + "\n")
                results[(kind, title)] = figures
                print(f"{kind:16} {title:36} {json.dumps(figures)[:160]}", file=sys.stderr)

    def cell(figures):
        if "error" in figures:
            return "error: " + " ".join(figures["error"])[:60]
        parts = [f"{figures.get('throughput_per_s', 0):,.0f}/s"]
        if "latency_p50_us" in figures:
            parts.append(f"p50 {figures['latency_p50_us']:,.0f} µs, p99 {figures.get('latency_p99_us', 0):,.0f} µs")
        cpu = figures.get("server_cpu_us_per_message")
        if cpu is not None:
            parts.append(f"**{cpu:.1f} µs CPU**")
        rss = figures.get("server_rss_per_connection_kib")
        if rss is not None:
            parts.append(f"{rss:.1f} KiB RSS/conn")
        return "; ".join(parts)

    print("| scenario | Parley | python-socketio | Parley target | met |")
    print("| --- | --- | --- | --- | --- |")
    for title, scenario, _ in scenarios:
        parley = results[("parley", title)]
        target, met = verdict(scenario, parley)
        print(f"| {title} | {cell(parley)} | {cell(results[('python-socketio', title)])} | {target} | {met} |")


def compare_recovery(seconds, single_socket_rates):
    """Runs each scenario against BenchServer with recovery off, then on, and prints one table."""
    scenarios = [
        ("fanout 1 000 × 100/s × 100 B (one room)", 1.10,
         ["--clients", "1000", "--rate", "100", "--payload-bytes", "100", "--duration", seconds]),
        # Half the rate: the server's core is not saturated, so the ratio is not queueing.
        ("fanout 1 000 × 50/s × 100 B (one room)", 1.10,
         ["--clients", "1000", "--rate", "50", "--payload-bytes", "100", "--duration", seconds]),
    ]
    for rate in single_socket_rates:
        # 1 000 rooms of one subscriber each; the publisher takes them in turn, so every
        # broadcast reaches one socket and is its own log entry.
        scenarios.append((f"emits to single sockets, {rate:,}/s (1 000 rooms of 1) × 100 B", 1.50,
                          ["--clients", "1000", "--rooms", "1000", "--rate", str(rate), "--payload-bytes", "100", "--duration", seconds]))
    sides = [("off", lambda directory: ["--no-recovery"]),
             ("on", lambda directory: ["--recovery-store", str(Path(directory) / "recovery.sqlite")])]
    out = ROOT / ".build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    with open(out / "compare-recovery.jsonl", "w") as log:
        for title, _, arguments in scenarios:
            for side, extra in sides:
                with tempfile.TemporaryDirectory(prefix="parley-recovery-bench-") as directory:
                    process, url = start_server("parley", extra(directory))
                    try:
                        figures = bench(url, process.pid, "fanout", *arguments)
                    finally:
                        stop_server(process)
                figures["server"] = "parley"
                figures["recovery"] = side
                figures["title"] = title
                log.write(json.dumps(figures) + "\n")
                results[(side, title)] = figures
                print(f"recovery {side:3} {title:52} {json.dumps(figures)[:160]}", file=sys.stderr)

    def cell(figures):
        if "error" in figures:
            return "error: " + " ".join(figures["error"])[:60]
        parts = [f"{figures.get('throughput_per_s', 0):,.0f} deliveries/s"]
        ratio = figures.get("delivery_ratio")
        if ratio is not None and ratio < 1:
            parts.append(f"{ratio:.2%} delivered")
        if "latency_p50_us" in figures:
            parts.append(f"p50 {figures['latency_p50_us']:,.0f} µs, p99 {figures.get('latency_p99_us', 0):,.0f} µs")
        cpu = figures.get("server_cpu_us_per_message")
        if cpu is not None:
            parts.append(f"**{cpu:.2f} µs CPU**")
        return "; ".join(parts)

    print("| scenario | recovery off | recovery on (SQLite) | CPU on / off | goal | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for title, limit, _ in scenarios:
        off, on = results[("off", title)], results[("on", title)]
        cpu_off, cpu_on = off.get("server_cpu_us_per_message"), on.get("server_cpu_us_per_message")
        if cpu_off and cpu_on:
            ratio = cpu_on / cpu_off
            change, met = f"{ratio:.2f} ({ratio - 1:+.0%})", "yes" if ratio <= limit else "**no**"
        else:
            change, met = "no figure", "no figure"
        print(f"| {title} | {cell(off)} | {cell(on)} | {change} | ≤ {limit - 1:+.0%} CPU per message | {met} |")


# DESIGN.md's targets for Parley, per scenario: (what, the figure, is it met).
TARGETS = {
    "echo": ("≤ 10 µs CPU per echo", "server_cpu_us_per_message", lambda value: value <= 10),
    "fanout": ("≤ 7 µs CPU per delivery", "server_cpu_us_per_message", lambda value: value <= 7),
    "polling": ("≥ 20 000 round trips/s", "throughput_per_s", lambda value: value >= 20_000),
    "connect": ("≤ 4 KiB RSS per connection", "server_rss_per_connection_kib", lambda value: value <= 4),
}


def verdict(scenario, figures):
    what, key, holds = TARGETS[scenario]
    value = figures.get(key)
    if value is None:
        return what, "no figure"
    return what, "yes" if holds(value) else "**no**"


if __name__ == "__main__":
    main()
