#!/usr/bin/env python3
"""python-socketio's AsyncClient (PyPI, an independent implementation) driving one scenario
against a Parley Socket.IO server.

Run by Tests/ParleyTests/Interop/PythonSocketIOTests.swift, which starts the server in process
with the handlers each scenario expects:

    python socketio_client_scenario.py --url http://127.0.0.1:PORT \
        --transports polling|websocket|default --scenario NAME

It prints one JSON object per line on stdout, ``{"event": ..., ...}``, for everything it
observed; the Swift test asserts on them. The last line is ``{"event": "done"}`` when every
check the script makes itself passed (exit 0), or ``{"event": "failed", "message": ...}``
(exit 1). python-socketio's log goes to stderr. Every wait is bounded: each step by
STEP_TIMEOUT, the whole run by RUN_TIMEOUT.
"""

import argparse
import asyncio
import json
import logging
import sys
import traceback

try:
    import socketio
except ImportError as missing:  # the wrong interpreter, or a venv without the requirements
    print(json.dumps({
        "event": "failed",
        "message": f"{missing} in {sys.executable}: pip install -r Tests/Interop/requirements.txt (bash Tests/run.sh does)",
    }), flush=True)
    sys.exit(1)

STEP_TIMEOUT = 5.0  # seconds, the bound on one wait
QUIET_WAIT = 0.5  # seconds to wait to be sure that something does NOT arrive
RUN_TIMEOUT = 25.0  # seconds, the bound on a whole scenario (the Swift side kills at 30 s)
IDLE_TIMEOUT = 20.0  # seconds the "killed" scenario waits to be killed

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "default": None}
FINAL_TRANSPORT = {"polling": "polling", "websocket": "websocket", "default": "websocket"}


class ScenarioFailed(Exception):
    pass


def observe(event, **fields):
    print(json.dumps({"event": event, **fields}, ensure_ascii=False), flush=True)


def check(condition, message):
    if not condition:
        raise ScenarioFailed(message)


def byte_list(data):
    """bytes as a JSON-friendly list of ints (the Swift side compares them)."""
    return list(data) if isinstance(data, (bytes, bytearray)) else data


async def bounded(awaitable, what, timeout=STEP_TIMEOUT):
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise ScenarioFailed(f"timed out after {timeout} s waiting for {what}") from None


class Scenario:
    def __init__(self, url, transports):
        self.url = url
        self.mode = transports
        self.transports = TRANSPORTS[transports]
        self.clients = []

    def client(self):
        # No reconnection: a scenario observes exactly one connection per client.
        sio = socketio.AsyncClient(
            reconnection=False,
            logger=logging.getLogger("socketio.client"),
            engineio_logger=logging.getLogger("engineio.client"),
        )
        self.clients.append(sio)
        return sio

    async def connect(self, sio, namespaces=("/",), auth=None):
        # connect() itself waits at most wait_timeout for the namespaces, but the Engine.IO
        # part (handshake, upgrade) and its clean-up after a failure are not bounded.
        await bounded(
            sio.connect(
                self.url,
                transports=self.transports,
                namespaces=list(namespaces),
                auth=auth,
                wait_timeout=STEP_TIMEOUT,
            ),
            f"connect() to {list(namespaces)}",
            timeout=STEP_TIMEOUT + 3,
        )

    async def settle_transport(self, sio, label="client"):
        """Waits (bounded) until the client is on the transport it should end on; the default
        mode starts on polling and must upgrade to WebSocket."""
        expected = FINAL_TRANSPORT[self.mode]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while sio.transport() != expected and loop.time() < deadline:
            await asyncio.sleep(0.05)
        observe("transport", client=label, value=sio.transport())
        check(sio.transport() == expected, f"{label} is on {sio.transport()}, expected {expected}")

    async def leave(self, sio):
        """sio.disconnect(), once the client has nothing in flight. python-engineio's polling
        write loop drops what disconnect() queues (`41`, close) when a POST is still awaiting
        its response; the read loop then waits for the next ping (25 s) to end. A server may
        well answer a POST after it has delivered the ack that POST caused, so wait until every
        queued packet has been posted and answered first."""
        if sio.connected:
            await bounded(sio.eio.queue.join(), "the client's queued packets to be sent")
            await bounded(sio.disconnect(), "disconnect()")

    async def close_all(self):
        for sio in self.clients:
            await self.leave(sio)

    # ---- scenarios -------------------------------------------------------------------

    async def namespaces(self):
        """`/` and `/admin` with a good token, then `/admin` with a wrong one."""
        sio = self.client()
        connected = {}

        @sio.on("connect")
        def on_main_connect():
            connected["/"] = sio.get_sid("/")

        @sio.on("connect", namespace="/admin")
        def on_admin_connect():
            connected["/admin"] = sio.get_sid("/admin")

        await self.connect(sio, namespaces=("/", "/admin"), auth={"token": "secret"})
        for name in ("/", "/admin"):
            observe("connect", namespace=name, sid=connected.get(name))
        check(set(connected) == {"/", "/admin"}, f"connected to {sorted(connected)}")
        check(connected["/"] != connected["/admin"], "both namespaces got the same socket id")
        for name in ("/", "/admin"):
            reply = await sio.call("whoami", namespace=name, timeout=STEP_TIMEOUT)
            observe("whoami", namespace=name, value=list(reply) if isinstance(reply, tuple) else reply)
        await self.settle_transport(sio)
        await self.leave(sio)

        refused = self.client()
        errors = []

        @refused.on("connect_error", namespace="/admin")
        def on_connect_error(data=None):
            errors.append(data)

        @refused.on("connect", namespace="/admin")
        def on_refused_connect():
            observe("unexpected_connect", namespace="/admin")

        try:
            await self.connect(refused, namespaces=("/admin",), auth={"token": "wrong"})
        except socketio.exceptions.ConnectionError as error:
            observe("connect_refused", namespace="/admin", message=str(error))
        else:
            raise ScenarioFailed("the connection with a wrong token was accepted")
        check(len(errors) == 1, f"connect_error fired {len(errors)} times")
        observe("connect_error", namespace="/admin", data=errors[0])
        check(not refused.connected, "the refused client reports connected")

    async def events_acks(self):
        """Events and acks in both directions, with and without acks, call()."""
        sio = self.client()
        noted = asyncio.get_running_loop().create_future()

        @sio.on("question")
        def on_question(text):
            observe("question", value=text)
            return "forty-two", 42  # a tuple: two ack arguments

        @sio.on("noted")
        def on_noted(value):
            if not noted.done():
                noted.set_result(value)

        await self.connect(sio)
        payload = {"text": "héllo ✓ 😀 \"quoted\" \\ /", "n": 42, "tags": ["a", "b"], "nested": {"ok": True}}

        acked = asyncio.get_running_loop().create_future()
        await sio.emit("echo", payload, callback=lambda *args: acked.set_result(list(args)))
        answer = await bounded(acked, "the ack of emit('echo')")
        observe("echo_ack", value=answer)
        check(answer == [payload], f"emit ack {answer!r} != [{payload!r}]")

        answer = await sio.call("echo", payload, timeout=STEP_TIMEOUT)
        observe("echo_call", value=answer)
        check(answer == payload, f"call result {answer!r} != {payload!r}")

        answer = await sio.call("sum", [1, 2, 3, 4], timeout=STEP_TIMEOUT)
        observe("sum_call", value=list(answer) if isinstance(answer, tuple) else answer)
        check(answer == ("sum", 10), f"multi-argument ack {answer!r}")

        # The server answers 'ask' with what this client answered to its 'question'.
        answer = await sio.call("ask", timeout=STEP_TIMEOUT)
        observe("ask_call", value=answer)

        # Without acks, both ways: 'note' -> server -> 'noted'.
        await sio.emit("note", "fire and forget")
        observe("noted", value=await bounded(noted, "the server's 'noted' event"))

        await self.settle_transport(sio)
        await self.leave(sio)

    async def binary(self):
        """bytes inside an object, to the server and back (ack) and from the server (event)."""
        sio = self.client()
        blob = bytes(range(256)) * 4 + b"\x1e\x00\xff"  # every byte value, the record separator
        parts = [b"\x01\x02\x03", b"\xfe"]
        download = asyncio.get_running_loop().create_future()

        @sio.on("download")
        def on_download(value):
            if not download.done():
                download.set_result(value)

        await self.connect(sio)
        upload = {"name": "blob", "data": blob, "parts": parts}
        acked = asyncio.get_running_loop().create_future()
        await sio.emit("upload", upload, callback=lambda *args: acked.set_result(args))
        answer = await bounded(acked, "the ack of emit('upload')")
        check(len(answer) == 1 and isinstance(answer[0], dict), f"ack {answer!r}")
        echoed = answer[0]
        observe(
            "upload_ack",
            name=echoed.get("name"),
            data_is_bytes=isinstance(echoed.get("data"), bytes),
            data_equal=echoed.get("data") == blob,
            parts_equal=echoed.get("parts") == parts,
            data_length=len(echoed.get("data") or b""),
        )
        check(echoed.get("data") == blob, "the echoed bytes differ")
        check(echoed.get("parts") == parts, f"the echoed parts differ: {echoed.get('parts')!r}")

        value = await bounded(download, "the server's 'download' event")
        observe(
            "download",
            name=value.get("name"),
            data_is_bytes=isinstance(value.get("data"), bytes),
            data_equal=value.get("data") == blob[::-1],
            parts=[byte_list(p) for p in value.get("parts", [])],
        )
        check(value.get("data") == blob[::-1], "the downloaded bytes differ")

        await self.settle_transport(sio)
        await self.leave(sio)

    async def rooms(self):
        """Three clients join room "r", a fourth stays out; a room broadcast reaches the three,
        a broadcast from one member (socket.to) reaches the two others only."""
        labels = ["sender", "member1", "member2", "outsider"]
        clients = {label: self.client() for label in labels}
        received = {label: {"news-all": [], "news": []} for label in labels}
        arrivals = {label: {name: asyncio.Event() for name in ("news-all", "news")} for label in labels}

        for label, sio in clients.items():
            for name in ("news-all", "news"):
                def handler(value, label=label, name=name):
                    received[label][name].append(value)
                    arrivals[label][name].set()

                sio.on(name, handler)

        await asyncio.gather(*(self.connect(sio) for sio in clients.values()))
        for label in labels[:3]:
            rooms = await clients[label].call("join", "r", timeout=STEP_TIMEOUT)
            observe("joined", client=label, rooms=rooms)
        for label, sio in clients.items():
            await self.settle_transport(sio, label)

        await clients["sender"].call("announce", "to everyone in r", timeout=STEP_TIMEOUT)
        for label in labels[:3]:
            await bounded(arrivals[label]["news-all"].wait(), f"news-all at {label}")

        await clients["sender"].call("shout", "from the sender", timeout=STEP_TIMEOUT)
        for label in ("member1", "member2"):
            await bounded(arrivals[label]["news"].wait(), f"news at {label}")
        await asyncio.sleep(QUIET_WAIT)  # bounded: make sure nothing else arrives

        for label in labels:
            observe("received", client=label, news_all=received[label]["news-all"], news=received[label]["news"])
        await self.close_all()

    async def client_disconnect(self):
        """The client leaves; the server should see `client namespace disconnect`."""
        sio = self.client()
        reasons = []

        @sio.on("disconnect")
        def on_disconnect(reason=None):
            reasons.append(reason)

        await self.connect(sio)
        await self.settle_transport(sio)
        observe("pong", value=await sio.call("ping", timeout=STEP_TIMEOUT))
        # The public API, as an application leaves. (Over WebSocket python-engineio queues `41`
        # and the close packet, then closes the WebSocket before its write loop sent them; the
        # server then sees the WebSocket close, not the `41`. The Swift side expects exactly
        # that per transport.)
        await bounded(sio.disconnect(), "disconnect()")
        observe("disconnected", reasons=[str(r) for r in reasons])

    async def server_disconnect(self):
        """The server calls socket.disconnect(); the client should see it as a server
        disconnect and stay disconnected."""
        sio = self.client()
        gone = asyncio.Event()
        reasons = []

        @sio.on("disconnect")
        def on_disconnect(reason=None):
            reasons.append(reason)
            gone.set()

        await self.connect(sio)
        await self.settle_transport(sio)
        observe("kick_ack", value=await sio.call("kick-me", timeout=STEP_TIMEOUT))
        await bounded(gone.wait(), "the disconnect event")
        observe("disconnected", reasons=[str(r) for r in reasons], connected=sio.connected)
        check(reasons == [sio.reason.SERVER_DISCONNECT], f"disconnect reasons {reasons!r}")

    async def killed(self):
        """Connects, says "ready", then idles until the test kills the process."""
        sio = self.client()
        await self.connect(sio)
        await self.settle_transport(sio)
        observe("pong", value=await sio.call("ping", timeout=STEP_TIMEOUT))
        observe("ready", sid=sio.get_sid("/"))
        await asyncio.sleep(IDLE_TIMEOUT)
        raise ScenarioFailed(f"not killed within {IDLE_TIMEOUT} s")

    async def connect_emit(self):
        """The server emits 'welcome' in its connection handler: it must come after the
        client's `connect` event."""
        sio = self.client()
        order = []
        welcomed = asyncio.Event()

        @sio.on("connect")
        def on_connect():
            order.append(["connect", sio.get_sid("/")])

        @sio.on("welcome")
        def on_welcome(socket_id):
            order.append(["welcome", socket_id])
            welcomed.set()

        await self.connect(sio)
        await bounded(welcomed.wait(), "the 'welcome' event")
        observe("order", value=order, sid=sio.get_sid("/"))
        check([name for name, _ in order] == ["connect", "welcome"], f"order {order!r}")
        await self.settle_transport(sio)
        await self.leave(sio)


SCENARIOS = {
    "namespaces": Scenario.namespaces,
    "events_acks": Scenario.events_acks,
    "binary": Scenario.binary,
    "rooms": Scenario.rooms,
    "client_disconnect": Scenario.client_disconnect,
    "server_disconnect": Scenario.server_disconnect,
    "killed": Scenario.killed,
    "connect_emit": Scenario.connect_emit,
}


async def main(arguments):
    scenario = Scenario(arguments.url, arguments.transports)
    try:
        await asyncio.wait_for(SCENARIOS[arguments.scenario](scenario), RUN_TIMEOUT)
    except asyncio.TimeoutError:
        observe("failed", message=f"scenario did not finish within {RUN_TIMEOUT} s")
        return 1
    except ScenarioFailed as failure:
        observe("failed", message=str(failure))
        return 1
    except Exception as error:  # anything python-socketio raised
        observe("failed", message=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        return 1
    finally:
        try:
            await asyncio.wait_for(scenario.close_all(), STEP_TIMEOUT)
        except Exception:  # best effort: the process exits anyway
            pass
    observe("done")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--transports", choices=sorted(TRANSPORTS), required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    # python-socketio's own log on stderr: the Swift test shows it when the scenario fails.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    sys.exit(asyncio.run(main(parser.parse_args())))
