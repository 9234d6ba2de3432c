"""Where BenchServer's CPU time goes on the echo or fanout path: a `perf` profile.

Usage (after `swift build -c release`; perf from Debian's linux-perf):

    python3 Samples/BenchServer/profile.py echo   [--server PATH] [--top 25]
    python3 Samples/BenchServer/profile.py fanout [--server PATH] [--top 25]
    python3 Samples/BenchServer/profile.py echo --server OTHER --server .build/release/BenchServer

The server runs pinned to core 0 and `parley bench` to core 1, as in compare.py. Once the
load generator reports its measured window, `perf record` samples the server (CPU clock,
user and kernel) for a few seconds. The generator's own figure of server CPU time per
message turns each function's share of the samples into microseconds per message (per echo,
or per delivery for fanout). Given several `--server`s, each is profiled in turn with the
same load and the tables are printed one after the other. The raw data is kept under
.build/bench/profile/.
"""

import argparse
import collections
import json
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".build" / "release"
OUT = ROOT / ".build" / "bench" / "profile"

SCENARIOS = {
    "echo": ["echo", "--rate", "0", "--clients", "50"],
    "fanout": ["fanout", "--clients", "1000", "--rate", "100", "--payload-bytes", "100"],
}


def start_server(server):
    process = subprocess.Popen(["taskset", "-c", "0", str(server), "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("BenchServer listening on"):
        process.kill()
        raise SystemExit(f"{server} did not start")
    return process, line.split()[-1].rstrip("/")


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def profile(scenario, server, window, label):
    process, url = start_server(server)
    data = OUT / f"{scenario}-{label}.perf.data"
    bench = None
    try:
        command = ["taskset", "-c", "1", str(RELEASE / "parley"), "bench", *SCENARIOS[scenario],
                   "--duration", str(window + 4), "--url", url, "--server-pid", str(process.pid)]
        bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marker = re.compile(r"\ds (sent|published)=")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = bench.stderr.readline()
            if not line:
                raise SystemExit("the load generator ended before its measured window")
            if marker.search(line):
                break
        subprocess.run(["perf", "record", "-F", "2999", "-g", "-p", str(process.pid), "-o", str(data),
                        "--", "sleep", str(window)], check=True, capture_output=True)
        output, _ = bench.communicate(timeout=120)
    finally:
        if bench and bench.poll() is None:
            bench.kill()
        stop(process)
    figures = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    return data, figures


def report(data, columns):
    """Self samples per (object, symbol)."""
    text = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "--stdio",
                           "-g", "none", "--percent-limit", "0"], capture_output=True, text=True).stdout
    rows = []
    for line in text.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if match:
            rows.append((float(match.group(1)), match.group(2), match.group(3), match.group(4).strip()))
    return rows


def demangle(symbols):
    result = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(symbols), capture_output=True, text=True)
    lines = result.stdout.splitlines()
    return dict(zip(symbols, lines)) if len(lines) == len(symbols) else {s: s for s in symbols}


def print_profile(scenario, server, data, figures, top):
    per_message = figures.get("server_cpu_us_per_message") or 0.0
    unit = "echo" if scenario == "echo" else "delivery"
    rows = report(data, None)
    readable = demangle([row[3] for row in rows])
    print(f"## {scenario} — {server}")
    print()
    print(f"{figures.get('throughput_per_s', 0):,.0f} {figures.get('message_unit', unit)}s/s, "
          f"server {per_message:.2f} µs CPU per {unit} ({figures.get('server_cpu_percent', 0):.0f}% of its core)")
    print()
    by_object = collections.Counter()
    for share, obj, kind, _ in rows:
        by_object["kernel" if kind == "k" else obj] += share
    print(f"| where | share | µs per {unit} |")
    print("| --- | ---: | ---: |")
    for obj, share in by_object.most_common(6):
        print(f"| {obj} | {share:.1f}% | {share * per_message / 100:.2f} |")
    print()
    print(f"| function (own time) | where | share | µs per {unit} |")
    print("| --- | --- | ---: | ---: |")
    for share, obj, kind, symbol in rows[:top]:
        where = "kernel" if kind == "k" else obj
        print(f"| {readable.get(symbol, symbol)[:100]} | {where} | {share:.1f}% | {share * per_message / 100:.2f} |")
    print()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--server", action="append", help="BenchServer binary (repeatable)")
    parser.add_argument("--window", type=float, default=6.0, help="seconds of sampling")
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    servers = options.server or [str(RELEASE / "BenchServer")]
    OUT.mkdir(parents=True, exist_ok=True)
    for index, server in enumerate(servers):
        data, figures = profile(options.scenario, server, options.window, f"{index}")
        print_profile(options.scenario, server, data, figures, options.top)


if __name__ == "__main__":
    main()
