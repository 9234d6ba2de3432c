"""Fan-out CPU per delivery of several BenchServer builds or settings, interleaved.

    python3 Samples/BenchServer/interleave.py \
        --server old=/path/to/old/BenchServer \
        --server off="$PWD/.build/release/BenchServer --no-recovery" \
        --server on="$PWD/.build/release/BenchServer --recovery-store /tmp/on.sqlite" \
        --rounds 2 --rate 50

On a shared machine the CPU figure drifts by ±15 % over a few minutes, so one run of each
server after the other compares the drift as much as the servers. This runs the servers in
rounds, each round in the opposite order of the one before (A B C, C B A, …), each against a
fresh process pinned to core 0 with `parley bench fanout` (1 000 subscribers, 100 B, 10 s) on
core 1, and prints every run and each server's mean. Needs a release build of `parley`.
"""

import argparse
import json
import shlex
import statistics
import subprocess
from pathlib import Path

RELEASE = Path(__file__).resolve().parents[2] / ".build" / "release"


def run(command, rate, seconds):
    process = subprocess.Popen(["taskset", "-c", "0", *command, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split(" on ", 1)[1].strip()
        pid = process.stdout.readline().split()[1]
        result = subprocess.run(
            ["taskset", "-c", "1", str(RELEASE / "parley"), "bench", "fanout", "--url", url, "--server-pid", pid,
             "--clients", "1000", "--rate", str(rate), "--payload-bytes", "100", "--duration", str(seconds)],
            capture_output=True, text=True, timeout=600)
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": result.stderr.strip()[-200:]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="append", required=True, help="NAME=COMMAND (repeatable)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=50, help="broadcasts per second to the 1 000 subscribers")
    parser.add_argument("--seconds", type=int, default=10)
    options = parser.parse_args()
    servers = [(name, shlex.split(command)) for name, command in (s.split("=", 1) for s in options.server)]
    figures = {name: [] for name, _ in servers}
    for round_index in range(options.rounds):
        order = servers if round_index % 2 == 0 else list(reversed(servers))
        for name, command in order:
            result = run(command, options.rate, options.seconds)
            cpu = result.get("server_cpu_us_per_message")
            print(f"round {round_index + 1} {name:8} {result.get('throughput_per_s', 0):>9,.0f} deliveries/s "
                  f"{cpu if cpu is not None else result.get('error')} µs CPU per delivery", flush=True)
            if cpu is not None:
                figures[name].append(cpu)
    for name, values in figures.items():
        if values:
            print(f"{name:8} mean {statistics.mean(values):.2f} µs over {len(values)} runs: {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
