"""How many concurrent WebSocket connections one BenchServer process holds, and its RSS per connection.

Usage (after `swift build -c release`, with the test venv that Tests/run.sh creates):

    .build/venv/bin/python Samples/BenchServer/hold.py                       # Parley, 100 000 connections
    .build/venv/bin/python Samples/BenchServer/hold.py --server python --connections 10000

Starts the server pinned to core 0 with its open-file soft limit raised to the hard limit, then
as many `parley bench connect` generators as the connections need, in parallel (each process is
bound by its own open-file limit), on the other cores, each over its own loopback source
addresses (one address gives one ephemeral port range toward the server's port). Every generator
holds its clients long enough for all of them to be open at once; meanwhile the server's VmRSS and
open descriptors are sampled from /proc. When the server's hard limit cannot hold the connections
asked for, the run is capped to what fits and says so (`--exceed-limit` tries them all anyway, to
see the server at its limit). Afterwards a short `parley bench echo` checks the server still
accepts clients. Prints a table, then one JSON line. Server and generator logs go to
.build/bench/hold/.
"""

import argparse
import ipaddress
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".build" / "release"
LOGS = ROOT / ".build" / "bench" / "hold"
SERVER_SPARE_FDS = 50  # listening socket, event loops, stdio: what the server needs besides connections
GENERATOR_MAX_CLIENTS = 19_000
GENERATOR_SPARE_FDS = 200
PORT_SHARE = 0.9  # of one address's ephemeral range, leaving room for other traffic


def proc_read(pid, name):
    with open(f"/proc/{pid}/{name}") as file:
        return file.read()


def rss_kib(pid):
    for line in proc_read(pid, "status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    fields = proc_read(pid, "stat").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_limits(pid):
    for line in proc_read(pid, "limits").splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return {"soft": int(soft), "hard": int(hard)}
    return None


def kernel_kib():
    """Host-wide kernel memory outside any RSS: (slab, TCP buffers) in KiB, both ends of loopback included."""
    slab = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("Slab:"))
    tcp = next(line.split() for line in Path("/proc/net/sockstat").read_text().splitlines() if line.startswith("TCP:"))
    return slab, int(tcp[tcp.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def sysctl(path):
    try:
        return " ".join(Path("/proc/sys", path).read_text().split())
    except OSError:
        return None


def raise_fd_soft_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Started:
    """The processes this run started; `stop()` ends each by its PID."""

    def __init__(self):
        self.processes = []

    def start(self, command, **options):
        process = subprocess.Popen(command, **options)
        self.processes.append(process)
        return process

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()  # by PID, and only if it has not been reaped
                process.wait()


def start_server(kind, started):
    if kind == "parley":
        command = [str(RELEASE / "BenchServer"), "--port", "0"]
    else:
        command = [sys.executable, str(ROOT / "Samples/BenchServer/python/bench_server.py"), "--port", "0"]
    out = LOGS / "server.out"
    with open(out, "w") as stdout, open(LOGS / "server.err", "w") as stderr:
        # taskset execs the server, so the PID is the server's own.
        process = started.start(["taskset", "-c", "0", *command], stdout=stdout, stderr=stderr, preexec_fn=raise_fd_soft_limit)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        lines = out.read_text().splitlines()
        if len(lines) >= 2:
            return process, lines[0].rsplit(" ", 1)[-1].rstrip("/")
        time.sleep(0.1)
    raise SystemExit(f"the {kind} server did not start; see {LOGS / 'server.err'}")


def plan(count, ports_per_address):
    """Splits `count` clients over generators; each gets its own block of source addresses."""
    per_generator = min(GENERATOR_MAX_CLIENTS, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - GENERATOR_SPARE_FDS)
    generators = math.ceil(count / per_generator)
    base, extra = divmod(count, generators)
    first = ipaddress.IPv4Address("127.0.0.1")
    shares, next_address = [], 0
    for index in range(generators):
        clients = base + (1 if index < extra else 0)
        addresses = math.ceil(clients / (ports_per_address * PORT_SHARE))
        shares.append((clients, [str(first + next_address + offset) for offset in range(addresses)]))
        next_address += addresses
    return shares


def last_json(path):
    lines = [line for line in path.read_text().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def echo_once(url, pid):
    """A short `parley bench echo` with 5 clients: whether new clients connect and get acks."""
    command = [str(RELEASE / "parley"), "bench", "echo", "--url", url, "--server-pid", str(pid), "--clients", "5",
               "--rate", "0", "--duration", "1", "--drain", "2", "--connect-timeout", "5"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timed out"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"ok": False, "error": " ".join((result.stderr or result.stdout).strip().splitlines()[-1:])}
    figures = json.loads(lines[-1])
    ok = figures.get("connected") == 5 and figures.get("acked", 0) > 0
    return {"ok": ok, "connected": figures.get("connected"), "acked": figures.get("acked")}


def liveness(url, pid, since):
    """Echo checks until one passes or 60 s after the generators ended; reports how long that took."""
    attempts = 0
    while True:
        attempts += 1
        check = echo_once(url, pid)
        if check["ok"] or time.monotonic() - since > 60:
            return {**check, "attempts": attempts, "after_s": round(time.monotonic() - since, 1)}
        time.sleep(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("parley", "python"), default="parley")
    parser.add_argument("--connections", type=int, default=100_000, help="connections to hold at once")
    parser.add_argument("--rate", type=float, default=1000, help="connections opened per second by each generator")
    parser.add_argument("--hold", type=float, help="seconds each generator holds after its ramp (default: covers the others' ramps)")
    parser.add_argument("--connect-timeout", type=float, default=15)
    parser.add_argument("--exceed-limit", action="store_true", help="try every connection even beyond the server's fd limit")
    options = parser.parse_args()
    if options.connections < 1 or options.rate <= 0:
        parser.error("--connections and --rate must be positive")
    for binary in ("parley", "BenchServer"):
        if not (RELEASE / binary).exists():
            raise SystemExit(f"{RELEASE / binary} is missing: run `swift build -c release` first")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    started = Started()
    try:
        report = run(options, started)
    except KeyboardInterrupt:
        raise SystemExit("interrupted: stopped the server and the generators")
    finally:
        started.stop()
    print_table(report)
    print(json.dumps(report))


def sample_server(server, generators, baseline_fds, deadline):
    """(time, open fds, VmRSS KiB, kernel (slab, TCP) KiB) of the server every second until the generators exit."""
    samples, last_print = [], 0.0
    while any(generator.poll() is None for generator in generators) and server.poll() is None:
        if time.monotonic() > deadline:
            raise SystemExit("the generators did not finish in time; stopping everything")
        sample = (time.monotonic(), open_fds(server.pid), rss_kib(server.pid), kernel_kib())
        samples.append(sample)
        if sample[0] - last_print >= 5:
            last_print = sample[0]
            print(f"  server: {sample[1] - baseline_fds} connections, {sample[2]} KiB", file=sys.stderr)
        time.sleep(1)
    return samples


def run(options, started):
    server, url = start_server(options.server, started)
    pid = server.pid
    time.sleep(1)
    server_limits = fd_limits(pid)
    baseline_fds = open_fds(pid)
    fits = server_limits["soft"] - max(SERVER_SPARE_FDS, baseline_fds + 10)
    capped = options.connections > fits and not options.exceed_limit
    count = fits if capped else options.connections
    if options.connections > fits:
        print(f"The server's open-file limit is {server_limits['soft']} (hard {server_limits['hard']}): one process "
              f"holds at most ~{fits} connections here, not {options.connections} (raise the hard limit: "
              f"see Samples/BenchServer/README.md).", file=sys.stderr)
        print(f"This run is capped by that limit: {count} connections." if capped else
              f"--exceed-limit: trying all {count}; the ones beyond the limit should fail.", file=sys.stderr)
    low, high = map(int, sysctl("net/ipv4/ip_local_port_range").split())
    shares = plan(count, high - low + 1)
    ramp = max(clients for clients, _ in shares) / options.rate
    hold = options.hold if options.hold is not None else options.connect_timeout + max(5, 0.2 * ramp)
    others = sorted(os.sched_getaffinity(0) - {0}) or [0]
    rss_before = rss_kib(pid)
    cpu_before = cpu_seconds(pid)
    slab_before, _ = kernel_kib()
    started_at = time.monotonic()
    print(f"{options.server} server pid {pid} at {url}: {baseline_fds} fds, {rss_before} KiB; "
          f"{len(shares)} generator(s) at {options.rate:g}/s each, hold {hold:.0f} s", file=sys.stderr)

    generators = []
    for index, (clients, addresses) in enumerate(shares):
        command = ["taskset", "-c", ",".join(map(str, others)), str(RELEASE / "parley"), "bench", "connect",
                   "--url", url, "--clients", str(clients), "--rate", str(options.rate), "--hold", f"{hold:.1f}",
                   "--connect-timeout", str(options.connect_timeout), "--source-addresses", ",".join(addresses)]
        with open(LOGS / f"generator-{index}.out", "w") as stdout, open(LOGS / f"generator-{index}.err", "w") as stderr:
            generators.append(started.start(command, stdout=stdout, stderr=stderr))
    time.sleep(1)
    generator_limits = fd_limits(generators[0].pid) if generators[0].poll() is None else None

    deadline = time.monotonic() + ramp + options.connect_timeout + hold + 60
    samples = sample_server(server, generators, baseline_fds, deadline)
    alive = server.poll() is None
    generators_ended = time.monotonic()
    cpu_after = cpu_seconds(pid) if alive else None

    results = [last_json(LOGS / f"generator-{index}.out") for index in range(len(shares))]
    finished = [result for result in results if result]
    # The last sample with the most connections open: all generators holding.
    peak = max(samples, key=lambda sample: (sample[1], sample[0])) if samples else (0, baseline_fds, rss_before, (slab_before, None))
    _, peak_fds, peak_rss, (peak_slab, peak_tcp) = peak
    held = peak_fds - baseline_fds

    # The server closes the held connections (and accepts whatever waited in its backlog) before it is idle again.
    settle = generators_ended + 30
    while alive and open_fds(pid) > baseline_fds + 5 and time.monotonic() < settle:
        time.sleep(0.5)
    check = liveness(url, pid, generators_ended) if server.poll() is None else {"ok": False, "error": "server exited"}

    failures = [result["first_failure"] for result in finished if "first_failure" in result]
    return {
        "server": options.server,
        "target_connections": options.connections,
        "attempted_connections": count,
        "capped_by_fd_limit": capped,
        "server_fd_limit": server_limits,
        "generator_fd_limit": generator_limits,
        "generators": len(shares),
        "source_addresses": sum(len(addresses) for _, addresses in shares),
        "rate_per_generator": options.rate,
        "hold_s": round(hold, 1),
        "held_peak_server_fds": held,
        "held_generators": sum(result["connected"] - result["dropped_during_hold"] for result in finished),
        "generators_reporting": len(finished),
        "failed": sum(result["failed"] for result in finished),
        "dropped_during_hold": sum(result["dropped_during_hold"] for result in finished),
        "first_failure": failures[0] if failures else None,
        "server_rss_before_kib": rss_before,
        "server_rss_peak_kib": peak_rss,
        "server_rss_per_connection_kib": round((peak_rss - rss_before) / held, 2) if held > 0 else None,
        "kernel_slab_per_connection_kib": round((peak_slab - slab_before) / held, 2) if held > 0 else None,
        "kernel_tcp_buffers_kib": peak_tcp,
        "server_cpu_s": round(cpu_after - cpu_before, 2) if cpu_after is not None else None,
        "run_s": round(time.monotonic() - started_at, 1),
        "server_alive": alive,
        "liveness": check,
        "system": {name: sysctl(path) for name, path in (
            ("fs.nr_open", "fs/nr_open"), ("fs.file-max", "fs/file-max"),
            ("net.ipv4.ip_local_port_range", "net/ipv4/ip_local_port_range"), ("net.core.somaxconn", "net/core/somaxconn"),
            ("net.ipv4.tcp_max_syn_backlog", "net/ipv4/tcp_max_syn_backlog"))},
    }


def limits(figures):
    return f"{figures['soft']}/{figures['hard']}" if figures else "?"


def print_table(report):
    rows = [
        ("server", report["server"]),
        ("connections asked / tried", f"{report['target_connections']} / {report['attempted_connections']}"
         + ("  (capped by the fd limit)" if report["capped_by_fd_limit"] else "")),
        ("fd limit soft/hard: server, generator", f"{limits(report['server_fd_limit'])}, {limits(report['generator_fd_limit'])}"),
        ("generators x source addresses", f"{report['generators']} x {report['source_addresses']}"),
        ("held at the peak: server fds / generators", f"{report['held_peak_server_fds']} / {report['held_generators']}"),
        ("failed / dropped while held", f"{report['failed']} / {report['dropped_during_hold']}"),
        ("server RSS before / peak", f"{report['server_rss_before_kib']} / {report['server_rss_peak_kib']} KiB"),
        ("server RSS per connection", f"{report['server_rss_per_connection_kib']} KiB"),
        ("kernel, host-wide: slab per connection", f"{report['kernel_slab_per_connection_kib']} KiB (both ends)"),
        ("kernel, host-wide: TCP buffers at the peak", f"{report['kernel_tcp_buffers_kib']} KiB"),
        ("server CPU for the run", f"{report['server_cpu_s']} s"),
        ("server alive / new clients connect", f"{report['server_alive']} / {report['liveness']['ok']}"
         f" ({report['liveness'].get('attempts', 0)} echo check(s), {report['liveness'].get('after_s')} s after the generators)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
