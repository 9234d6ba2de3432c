"""Smoke test of the load generator `$PARLEY_BIN/parley bench`: every scenario runs for about a
second with small numbers against `$PARLEY_BIN/BenchServer` (the contract of
Samples/BenchServer/README.md), given the server's pid so that it samples its CPU time.

What is checked is that the tool works end to end, not how fast anything is: it exits 0, its
last stdout line is one JSON object with the scenario's figures, throughput is not zero, no
client failed, and the server CPU time per message is reported. Figures themselves are only
meaningful from release builds on a quiet machine (DESIGN.md, "Performance targets").

Every run is bounded by a subprocess timeout; the servers are started on port 0. The `codec`
scenario needs no server: it times the wire codecs in process, very briefly here.
"""

import json
import os
import subprocess

import pytest

from conftest import sample_binary

RUN_TIMEOUT = 60.0  # seconds for one `parley bench` run (each measures ~1 s)
CLIENTS = 20


@pytest.fixture(scope="module")
def swift_bench_server(module_bench_server_factory):
    """One Parley BenchServer shared by the module's tests."""
    return module_bench_server_factory("swift")


def run_bench(server, scenario, *flags):
    """Runs `parley bench <scenario>` against `server` and returns its JSON figures."""
    args = [
        str(sample_binary("parley")), "bench", scenario,
        "--url", server.origin, "--server-pid", str(server.pid),
        *[str(flag) for flag in flags],
    ]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(
            f"`{' '.join(args)}` took more than {RUN_TIMEOUT:.0f} s\nstderr:\n{timeout.stderr}\n"
            f"server stderr (tail):\n{server.stderr_tail()}",
            pytrace=False,
        )
    context = (
        f"command: {' '.join(args)}\nexit code: {done.returncode}\nstdout:\n{done.stdout}\n"
        f"stderr:\n{done.stderr[-4000:]}\nserver stderr (tail):\n{server.stderr_tail()}"
    )
    assert done.returncode == 0, context
    lines = done.stdout.strip().splitlines()
    assert lines, context
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError as error:
        pytest.fail(f"the last stdout line is not JSON ({error})\n{context}", pytrace=False)
    assert isinstance(figures, dict), context
    assert figures["scenario"] == scenario, context
    assert figures["server_pid"] == server.pid, context
    return figures, context


def assert_common(figures, context, busy=True):
    """`busy`: the window held a second of steady load (not just a burst of connects)."""
    assert figures["throughput_per_s"] > 0, context
    assert figures["failed"] == 0, context
    # The server's CPU time over the window, read from /proc in 10 ms ticks. It cannot exceed
    # the window's wall time on every core; a second of load on a debug build costs the
    # server well over one tick, while 20 connects may fit in less than one.
    server_cpu = figures["server_cpu_us"]
    assert isinstance(server_cpu, int) and server_cpu >= (10_000 if busy else 0), context
    assert server_cpu <= figures["window_s"] * 1e6 * (os.cpu_count() or 1) * 1.05, context
    per_message = figures["server_cpu_us_per_message"]
    assert isinstance(per_message, (int, float)), context
    if busy:
        assert per_message > 0, context


def assert_latency(figures, context):
    assert figures["latency_samples"] > 0, context
    assert 0 <= figures["latency_p50_us"] <= figures["latency_p99_us"] <= figures["latency_max_us"], context


def test_echo_open_loop_reports_latency_and_cpu_per_round_trip(swift_bench_server):
    figures, context = run_bench(
        swift_bench_server, "echo", "--clients", CLIENTS, "--rate", 2000, "--duration", 1, "--payload-bytes", 16
    )
    assert_common(figures, context)
    assert_latency(figures, context)
    assert figures["mode"] == "open", context
    assert figures["connected"] == CLIENTS, context
    assert figures["acked"] == figures["sent"] > 0, context
    assert figures["message_unit"] == "round trip", context


def test_echo_closed_loop_reports_round_trips(swift_bench_server):
    figures, context = run_bench(swift_bench_server, "echo", "--clients", CLIENTS, "--rate", 0, "--duration", 1)
    assert_common(figures, context)
    assert_latency(figures, context)
    assert figures["mode"] == "closed", context
    assert figures["unacked"] == 0, context


def test_fanout_reports_deliveries_to_every_subscriber(swift_bench_server):
    figures, context = run_bench(
        swift_bench_server, "fanout", "--clients", CLIENTS, "--rate", 50, "--duration", 1, "--payload-bytes", 100
    )
    assert_common(figures, context)
    assert_latency(figures, context)
    assert figures["subscribed"] == CLIENTS, context
    assert figures["published"] > 0, context
    assert figures["delivered"] == figures["expected_deliveries"] == figures["published"] * CLIENTS, context
    assert figures["message_unit"] == "delivery", context


def test_polling_reports_long_polling_round_trips(swift_bench_server):
    figures, context = run_bench(swift_bench_server, "polling", "--clients", CLIENTS, "--duration", 1)
    assert_common(figures, context)
    assert_latency(figures, context)
    assert figures["transport"] == "polling", context
    assert figures["mode"] == "closed", context
    assert figures["connected"] == CLIENTS, context
    assert figures["unacked"] == 0, context


def test_connect_reports_connect_rate_and_memory_per_connection(swift_bench_server):
    figures, context = run_bench(
        swift_bench_server, "connect", "--clients", CLIENTS, "--rate", 200, "--hold", 1,
        "--source-addresses", "127.0.0.1,127.0.0.2",
    )
    assert_common(figures, context, busy=False)
    assert_latency(figures, context)
    assert figures["connected"] == CLIENTS, context
    assert figures["dropped_during_hold"] == 0, context
    assert figures["server_rss_after_kib"] > 0, context
    assert isinstance(figures["server_rss_per_connection_kib"], (int, float)), context
    assert figures["message_unit"] == "connection", context


def test_connect_over_polling_holds_every_client(swift_bench_server):
    figures, context = run_bench(
        swift_bench_server, "connect", "--transport", "polling", "--clients", CLIENTS, "--rate", 200, "--hold", 1
    )
    assert_common(figures, context, busy=False)
    assert figures["connected"] == CLIENTS, context
    assert figures["dropped_during_hold"] == 0, context


CODEC_CASES = [
    f"{packet}.{direction}"
    for packet in [
        "engine.message", "engine.ping", "polling.payload10", "socket.event", "socket.event_ack", "socket.ack",
        "socket.namespace_event", "socket.binary_event", "socket.fanout_msg",
    ]
    for direction in ["decode", "encode"]
] + ["socket.event_name.scan", "socket.arguments.split", "socket.arguments.decode", "socket.payload.encode"]


def test_codec_reports_every_case_with_a_positive_time_per_operation():
    """In process, no server: about 25 ms per case."""
    args = [str(sample_binary("parley")), "bench", "codec", "--time-per-case", "0.02", "--repetitions", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    context = f"command: {' '.join(args)}\nexit code: {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, context
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["scenario"] == "codec", context
    assert list(figures["cases"]) == CODEC_CASES, context
    for name, case in figures["cases"].items():
        assert 0 < case["min_ns_per_op"] <= case["median_ns_per_op"], f"{name}\n{context}"
        assert case["ops_per_s"] > 0 and case["iterations"] >= 1, f"{name}\n{context}"
    table = done.stdout.strip().splitlines()[1:-1]  # below the header, above the JSON line
    assert [row.split()[0] for row in table] == CODEC_CASES, context


def test_unreachable_server_fails_with_a_message():
    """Nothing listens on port 9 (discard) here: every client fails, the tool exits non-zero."""
    args = [str(sample_binary("parley")), "bench", "echo", "--url", "http://127.0.0.1:9", "--clients", 2,
            "--duration", 1, "--connect-timeout", 2]
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode != 0, done.stdout
    assert "no client connected" in done.stderr, done.stderr
