"""Whether churn leaves a BenchServer process worse off: its RSS over a soak, and its fan-out CPU before and after.

Usage (after `swift build -c release --product parley --product BenchServer`):

    python3 Samples/BenchServer/soak.py                  # 600 s of churn
    python3 Samples/BenchServer/soak.py --duration 120   # a short run

Builds nothing: takes `parley` and `BenchServer` from .build/release. Starts one BenchServer pinned
to core 0 (the generator runs on core 1, as in compare.py), then on that same process:

1. `parley bench fanout` on the fresh server;
2. `parley bench soak --duration N`: clients connect, talk and leave by every path, while the
   server's RSS is sampled every 10 s;
3. the same `parley bench fanout` again, on the soaked server.

Prints both fan-out figures in server CPU µs per delivery and their ratio (goal: within 10 %),
the RSS curve of the soak and its end-to-1-minute ratio (goal: within +10 %), how the soak's
clients left and any unexpected errors, then one JSON line. Server and generator output go to
.build/bench/soak/.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".build" / "release"
LOGS = ROOT / ".build" / "bench" / "soak"
GOAL = 1.10


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def start_server():
    out, err = LOGS / "server.out", LOGS / "server.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        # taskset execs the server, so the PID is the server's own.
        process = subprocess.Popen(["taskset", "-c", "0", str(RELEASE / "BenchServer"), "--port", "0"], stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        lines = out.read_text().splitlines()
        if len(lines) >= 2:
            return process, lines[0].rsplit(" ", 1)[-1].rstrip("/")
        time.sleep(0.1)
    stop(process)
    raise SystemExit(f"BenchServer did not start; see {err}")


def stop(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()  # by PID, and only if it has not been reaped
        process.wait()


def bench(name, url, pid, scenario, arguments, timeout, echo_progress=False):
    """Runs one `parley bench` scenario on core 1; returns its JSON figures (stdout saved in LOGS/name.out)."""
    command = ["taskset", "-c", "1", str(RELEASE / "parley"), "bench", scenario, "--url", url, "--server-pid", str(pid), *arguments]
    print(f"== {name}: {' '.join(command[3:])}", file=sys.stderr, flush=True)
    with open(LOGS / f"{name}.out", "w") as stdout, open(LOGS / f"{name}.err", "w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + timeout
            for line in process.stderr:  # progress, as it goes
                stderr.write(line)
                if echo_progress:
                    print("   " + line.rstrip(), file=sys.stderr, flush=True)
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} took longer than {timeout:.0f} s")
            process.wait(timeout=max(1, deadline - time.monotonic()))
        finally:
            if process.poll() is None:
                stop(process)
    lines = [line for line in (LOGS / f"{name}.out").read_text().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        tail = (LOGS / f"{name}.err").read_text().strip().splitlines()[-1:]
        raise SystemExit(f"{name} failed (exit {process.returncode}): {' '.join(tail)}")
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of soak (default 600)")
    parser.add_argument("--clients", type=int, default=200, help="soak: clients live at most at once")
    parser.add_argument("--rate", type=float, default=20, help="soak: clients opened per second")
    parser.add_argument("--fanout-clients", type=int, default=1000)
    parser.add_argument("--fanout-rate", type=float, default=100, help="broadcasts per second")
    parser.add_argument("--fanout-duration", type=float, default=10)
    parser.add_argument("--payload-bytes", type=int, default=100, help="fan-out payload")
    options = parser.parse_args()
    for binary in ("parley", "BenchServer"):
        if not (RELEASE / binary).exists():
            raise SystemExit(f"{RELEASE / binary} is missing: run `swift build -c release --product parley --product BenchServer` first")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fanout = ["--clients", str(options.fanout_clients), "--rate", str(options.fanout_rate),
              "--payload-bytes", str(options.payload_bytes), "--duration", str(options.fanout_duration)]
    fanout_timeout = options.fanout_duration + 120
    soak = ["--duration", str(options.duration), "--clients", str(options.clients), "--rate", str(options.rate)]

    server, url = start_server()
    try:
        rss = {"start": rss_kib(server.pid)}
        fresh = bench("fanout-fresh", url, server.pid, "fanout", fanout, fanout_timeout)
        rss["after_fresh_fanout"] = rss_kib(server.pid)
        soaked = bench("soak", url, server.pid, "soak", soak, options.duration + 300, echo_progress=True)
        rss["after_soak"] = rss_kib(server.pid)
        after = bench("fanout-after-soak", url, server.pid, "fanout", fanout, fanout_timeout)
        rss["after_second_fanout"] = rss_kib(server.pid)
        alive = server.poll() is None
    finally:
        stop(server)

    cpu_fresh, cpu_after = fresh.get("server_cpu_us_per_message"), after.get("server_cpu_us_per_message")
    cpu_ratio = cpu_after / cpu_fresh if cpu_fresh and cpu_after is not None else None
    report = {
        "duration_s": options.duration,
        "server_alive_at_the_end": alive,
        "fanout_fresh_cpu_us_per_delivery": cpu_fresh,
        "fanout_after_soak_cpu_us_per_delivery": cpu_after,
        "fanout_cpu_ratio": round(cpu_ratio, 3) if cpu_ratio else None,
        "fanout_cpu_goal_met": cpu_ratio is not None and abs(cpu_ratio - 1) <= GOAL - 1,
        "fanout_delivery_ratio": [fresh.get("delivery_ratio"), after.get("delivery_ratio")],
        "soak_rss_baseline_kib": soaked.get("server_rss_baseline_kib"),
        "soak_rss_end_kib": soaked.get("server_rss_end_kib"),
        "soak_rss_ratio": soaked.get("server_rss_end_to_baseline"),
        "soak_rss_goal_met": (soaked.get("server_rss_end_to_baseline") or 99) <= GOAL,
        "server_rss_kib": rss,
        "soak": soaked,
        "fanout_fresh": fresh,
        "fanout_after_soak": after,
    }
    print_summary(report)
    print(json.dumps(report))


def print_summary(report):
    soaked = report["soak"]
    print("| fan-out (server CPU per delivery) | fresh server | after the soak | ratio | goal ±10 % |")
    print("| --- | --- | --- | --- | --- |")
    fresh, after = report["fanout_fresh"], report["fanout_after_soak"]
    print(f"| {fresh['clients']} × {fresh['target_rate_per_s']:g}/s × {fresh['payload_bytes']} B, {fresh['duration_s']:g} s "
          f"| {report['fanout_fresh_cpu_us_per_delivery']} µs | {report['fanout_after_soak_cpu_us_per_delivery']} µs "
          f"| {report['fanout_cpu_ratio']} | {'met' if report['fanout_cpu_goal_met'] else '**not met**'} |")
    print()
    print(f"soak RSS curve ({report['duration_s']:g} s; server RSS at start {report['server_rss_kib']['start']} KiB, "
          f"after the fresh fan-out {report['server_rss_kib']['after_fresh_fanout']} KiB):")
    print("| t (s) | phase | RSS (KiB) | server CPU (s) | clients opened | live | messages | left | errors |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in soaked.get("curve", []):
        print(f"| {row['t_s']:.0f} | {row['phase']} | {row['rss_kib']} | {row['server_cpu_s']} | {row['opened']} "
              f"| {row['live']} | {row['messages']} | {row['left']} | {row['errors']} |")
    print()
    print(f"RSS at {soaked['baseline_at_s']:g} s: {soaked['server_rss_baseline_kib']} KiB; at the end of the soak: "
          f"{soaked['server_rss_end_kib']} KiB; ratio {soaked['server_rss_end_to_baseline']} "
          f"(goal ≤ {GOAL}: {'met' if report['soak_rss_goal_met'] else 'not met'}); after the drain "
          f"{soaked['server_rss_after_drain_kib']} KiB; after the second fan-out {report['server_rss_kib']['after_second_fanout']} KiB")
    print()
    print("clients left by:")
    print("| transport | " + " | ".join(soaked["left"]["websocket"].keys()) + " |")
    print("| --- |" + " ---: |" * len(soaked["left"]["websocket"]))
    for transport, counts in soaked["left"].items():
        print(f"| {transport} | " + " | ".join(str(count) for count in counts.values()) + " |")
    print(f"opened {soaked['opened']}, connected {soaked['connected']}, upgraded {soaked['upgraded']}, "
          f"messages {soaked['messages']} (ack p50 {soaked.get('ack_latency_p50_us')} µs, p99 {soaked.get('ack_latency_p99_us')} µs)")
    print(f"unexpected errors: {soaked['unexpected_errors']}")
    for text, count in soaked.get("errors", {}).items():
        print(f"  {count}  {text}")
    print()


if __name__ == "__main__":
    main()
