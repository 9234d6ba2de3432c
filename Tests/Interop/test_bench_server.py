"""The BenchServer contract (Samples/BenchServer/README.md), checked on both implementations —
Parley's `$PARLEY_BIN/BenchServer` and the python-socketio twin that `parley bench` compares it
with — by python-socketio's AsyncClient over WebSocket:

* `echo` with an ack id is acknowledged with the same arguments: strings, integers, floats,
  booleans, null, nested objects and arrays, and bytes (binary attachments), anywhere;
* `join(room)` is acknowledged with the room name;
* `broadcast(room, payload)` sends `msg(payload)` to the sockets in the room and no other.

Every wait is bounded; the servers are started on port 0 and stopped by the fixtures.
"""

import asyncio
import re
import signal

import pytest
import socketio

from conftest import BENCH_SERVER_KINDS, STOP_TIMEOUT

WAIT = 5.0  # seconds for any one connect, ack or delivery


def typed(value):
    """`value` with the type of every leaf spelled out, so that True ≠ 1 and 1 ≠ 1.0."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


async def bounded(awaitable, what):
    try:
        return await asyncio.wait_for(awaitable, WAIT)
    except asyncio.TimeoutError:
        pytest.fail(f"no {what} within {WAIT:.0f} s", pytrace=False)


# Parley's BenchServer runs with connection state recovery on: each `msg` carries its offset as
# an extra last argument (Protocol/recovery.md § 2). The contract is about the payload.
OFFSET = re.compile(r"^[0-9a-z]{8}-[a-m][0-9a-z]+$")


def without_offset(args):
    """`args` without a trailing recovery offset."""
    if args and isinstance(args[-1], str) and OFFSET.match(args[-1]):
        return args[:-1]
    return args


class Client:
    """A python-socketio AsyncClient on WebSocket that records every `msg` it receives."""

    def __init__(self, name):
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.messages = asyncio.Queue()
        self.sio.on("msg", self._msg)

    async def _msg(self, *args):
        await self.messages.put(without_offset(list(args)))

    async def connect(self, url):
        await bounded(self.sio.connect(url, transports=["websocket"], wait_timeout=WAIT), f"{self.name} connection")

    async def call(self, event, *args):
        """Emits `event` with `args` and returns the ack's arguments as a list."""
        answered = asyncio.get_running_loop().create_future()
        await self.sio.emit(event, args, callback=lambda *ack: answered.set_result(list(ack)))
        return await bounded(answered, f"ack of {event} for {self.name}")

    async def close(self):
        await self.sio.disconnect()


async def with_clients(url, count, scenario):
    clients = [Client(f"client {index}") for index in range(count)]
    try:
        for client in clients:
            await client.connect(url)
        return await scenario(*clients)
    finally:
        for client in clients:
            await client.close()


@pytest.fixture(scope="module", params=BENCH_SERVER_KINDS)
def bench_server(request, module_bench_server_factory):
    """One BenchServer of each implementation, shared by the module's tests."""
    return module_bench_server_factory(request.param)


ECHO_CASES = {
    "no arguments": (),
    "one string": ("hello",),
    "scalars": (0, -42, 9007199254740993, 18446744073709551615, 3.25, -1.5e-7, True, False, None, ""),
    "nested": (
        {
            "text": "héllo ☃ 🎉 \"quoted\" back\\slash\nnewline\ttab /slash",
            "nested": {"list": [1, "two", {"three": 3.5}, [], {}], "none": None, "yes": True},
            "number": 12345,
        },
        [[1, [2, [3]]], {"a": [{"b": {"c": "deep"}}]}],
    ),
    "bytes": (b"\x00\x01\x02\xff binary \xfe",),
    "bytes inside": (
        "text",
        b"",
        {"blob": b"\x00" * 300, "list": [b"first", {"second": b"\x7f"}], "label": "mixed"},
        [b"a", 1, b"b"],
    ),
    "sixteen arguments": tuple(range(16)),
}


@pytest.mark.parametrize("arguments", list(ECHO_CASES.values()), ids=list(ECHO_CASES))
def test_echo_acks_the_same_arguments(bench_server, arguments):
    async def scenario(client):
        return await client.call("echo", *arguments)

    answer = asyncio.run(with_clients(bench_server.url, 1, scenario))
    assert typed(answer) == typed(list(arguments))


def test_echo_keeps_the_value_of_integral_floats(bench_server):
    # JSON does not tell 2.0 from 2; Parley answers `2` (its encoder drops the fraction), the
    # python server `2.0`. Equal values either way.
    async def scenario(client):
        return await client.call("echo", 2.0, [1e2])

    assert asyncio.run(with_clients(bench_server.url, 1, scenario)) == [2.0, [100.0]]


def test_join_acks_the_room_name(bench_server):
    async def scenario(client):
        return await client.call("join", "room ✓ 1")

    assert asyncio.run(with_clients(bench_server.url, 1, scenario)) == ["room ✓ 1"]


def test_broadcast_reaches_the_room_members_and_nobody_else(bench_server):
    payload = {"text": "to the room", "blob": b"\x00\x01\x02", "n": 7}

    async def scenario(first, second, outsider):
        assert await first.call("join", "bench-room") == ["bench-room"]
        assert await second.call("join", "bench-room") == ["bench-room"]
        assert await outsider.call("join", "elsewhere") == ["elsewhere"]
        # The outsider sends: the sender's own membership plays no part.
        assert await outsider.call("broadcast", "bench-room", payload) == []
        for member in (first, second):
            received = await bounded(member.messages.get(), f"msg for {member.name}")
            assert typed(received) == typed([payload])
        # A msg for the outsider would have been written before the broadcast's ack on the same
        # connection; one more round trip makes sure nothing is still in flight.
        assert await outsider.call("echo", "flush") == ["flush"]
        assert outsider.messages.empty(), "the socket outside the room got the broadcast"
        assert first.messages.empty() and second.messages.empty(), "a member got the broadcast twice"

        # A member that broadcasts to its own room gets the message too.
        await first.call("broadcast", "bench-room", "again")
        for member in (first, second):
            assert await bounded(member.messages.get(), f"second msg for {member.name}") == ["again"]

    asyncio.run(with_clients(bench_server.url, 3, scenario))


def test_announces_its_pid_on_the_second_line(bench_server):
    assert bench_server.extra_lines == [f"pid {bench_server.pid}"]


@pytest.mark.parametrize("kind", BENCH_SERVER_KINDS)
def test_sigterm_stops_it_promptly_with_exit_code_0(bench_server_factory, kind):
    server = bench_server_factory(kind)

    async def connected_client(client):
        assert await client.call("echo", "still here") == ["still here"]
        assert server.stop(signal.SIGTERM, timeout=STOP_TIMEOUT) == 0
        assert not server.killed

    asyncio.run(with_clients(server.url, 1, connected_client))


@pytest.mark.parametrize("kind", BENCH_SERVER_KINDS)
def test_sigterm_right_after_the_announcement_exits_0(bench_server_factory, kind):
    # A load generator stops the server as soon as it is done, possibly at once: the signal must
    # already be handled when the listening line appears.
    for _ in range(3):
        server = bench_server_factory(kind)
        assert server.stop(signal.SIGTERM, timeout=STOP_TIMEOUT) == 0
        assert not server.killed
