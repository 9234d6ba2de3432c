"""python-engineio's client (PyPI, an independent implementation) against EngineEcho.

Every message the client sends must come back on the same session, in order, with the same
type (text as text, binary as binary), over polling, over WebSocket, and across the
polling -> WebSocket upgrade. Plus heartbeat with sub-second settings, the exact handshake
values, and a clean exit on SIGTERM/SIGINT.
"""

import json
import signal
import threading
import time

import engineio
import pytest
import requests
import websocket
from engineio import packet as eio_packet
from engineio import payload as eio_payload

# python-engineio's client refuses a polling response with more than 16 packets
# (Payload.max_decode_packets), a limit of that client, not of the protocol: a server may
# flush every queued packet in one GET. Raise it so the test exercises the server's batching.
eio_payload.Payload.max_decode_packets = 10_000

TIMEOUT = 10.0  # the bound on every wait in this file

# ~20 mixed messages. Text is chosen so python-engineio's decoder does not turn it into JSON
# values (it json.loads() text payloads when it can) and never contains the polling record
# separator \x1e, which the protocol assumes never appears in data.
MESSAGES = [
    "hello",
    b"\x01\x02\x03\x04",
    "",
    "unicode: héllo wörld — ✓ 日本語 😀",
    b"",
    b"\x00\xff\x00\xfe binary with NULs",
    "spaces and\nnewlines\tand tabs",
    "4 looks like a message packet",
    "b looks like base64 but is text",
    bytes(range(256)),
    "x" * 5000,
    b"\xab" * 70_000,
    "emoji only 🎉🎉🎉",
    "quotes \" and backslashes \\ and {braces",
    b"4text-looking bytes",
    "a",
    b"b",
    "y" * 60_000,
    "last-but-one",
    b"\x7f last",
]


class RecordingClient(engineio.Client):
    """python-engineio's sync client (requests + websocket-client), recording what arrives.

    The stock 'message' event runs each handler in its own thread, so handler order is not
    arrival order; recording in _receive_packet (called by the read loop, in order) is."""

    def __init__(self):
        super().__init__(handle_sigint=False, request_timeout=5)
        self.cond = threading.Condition()
        self.received = []
        self.pings = 0
        self.disconnects = []
        self.on("disconnect", self._on_disconnect)

    def _on_disconnect(self, reason=None):
        with self.cond:
            self.disconnects.append(reason)
            self.cond.notify_all()

    def _receive_packet(self, pkt):
        with self.cond:
            if pkt.packet_type == eio_packet.MESSAGE:
                self.received.append(pkt.data)
            elif pkt.packet_type == eio_packet.PING:
                self.pings += 1
            self.cond.notify_all()
        super()._receive_packet(pkt)

    def wait_for_messages(self, count, timeout=TIMEOUT):
        with self.cond:
            self.cond.wait_for(lambda: len(self.received) >= count or self.disconnects, timeout)
            return list(self.received)


def connect(server, transports=None):
    client = RecordingClient()
    client.connect(server.origin, transports=transports, engineio_path=server.path)
    return client


def disconnect_bounded(client, timeout=TIMEOUT):
    """client.disconnect() joins its read loop; on polling that needs the server to release
    the pending GET after the client's close packet. Bound it."""
    # python-engineio's polling write loop drops the close packet if disconnect() runs while
    # a POST is still in flight (it re-checks `state` before taking the next packet), and
    # then waits for its parked GET to time out. Let in-flight POSTs finish first.
    wait_until(lambda: client.queue.unfinished_tasks == 0, timeout=timeout)
    time.sleep(0.05)
    t = threading.Thread(target=client.disconnect, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), (
        f"client.disconnect() did not finish within {timeout:.0f} s "
        "(the server did not end the pending poll after the client's close packet?)"
    )


def describe(value):
    kind = "binary" if isinstance(value, (bytes, bytearray)) else type(value).__name__
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text} (len {len(value) if hasattr(value, '__len__') else '?'})"


def assert_echoed(client, sent, already=0):
    received = client.wait_for_messages(already + len(sent))
    got = received[already:]
    assert not client.disconnects, f"client disconnected: {client.disconnects}"
    assert len(got) == len(sent), (
        f"expected {len(sent)} echoes, got {len(got)} within {TIMEOUT:.0f} s: "
        f"{[describe(g) for g in got]}"
    )
    for i, (s, g) in enumerate(zip(sent, got)):
        assert type(g) is type(s), f"message {i}: sent {describe(s)}, echoed as {describe(g)}"
        assert g == s, f"message {i}: sent {describe(s)}, echoed {describe(g)}"


def wait_until(predicate, timeout=TIMEOUT, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- echo over each transport -------------------------------------------------------------


def test_echo_polling_only(engine_echo):
    client = connect(engine_echo, transports=["polling"])
    try:
        assert client.transport() == "polling"
        for m in MESSAGES:
            client.send(m)
        assert_echoed(client, MESSAGES)
        # a second burst on the same session, sent one by one after each echo
        for i, m in enumerate(MESSAGES[:5]):
            client.send(m)
            assert_echoed(client, [m], already=len(MESSAGES) + i)
        assert client.transport() == "polling"
    finally:
        disconnect_bounded(client)


def test_echo_websocket_only(engine_echo):
    client = connect(engine_echo, transports=["websocket"])
    try:
        assert client.transport() == "websocket"
        for m in MESSAGES:
            client.send(m)
        assert_echoed(client, MESSAGES)
        for i, m in enumerate(MESSAGES[:5]):
            client.send(m)
            assert_echoed(client, [m], already=len(MESSAGES) + i)
    finally:
        disconnect_bounded(client)


def test_echo_polling_then_upgrade(engine_echo):
    client = RecordingClient()
    first_half, second_half = MESSAGES[:10], MESSAGES[10:]
    # Messages sent from the connect handler are queued while the session is still on
    # polling (python-engineio upgrades right after the handshake); they must survive
    # the upgrade and arrive before the later ones.
    client.on("connect", lambda: [client.send(m) for m in first_half])
    client.connect(engine_echo.origin, engineio_path=engine_echo.path)
    try:
        assert wait_until(lambda: client.transport() == "websocket"), (
            f"client did not end on websocket within {TIMEOUT:.0f} s "
            f"(transport: {client.transport()!r}, upgrades advertised: {client.upgrades!r})"
        )
        for m in second_half:
            client.send(m)
        assert_echoed(client, MESSAGES)
        assert client.transport() == "websocket"
    finally:
        disconnect_bounded(client)


def test_many_clients_are_isolated(engine_echo):
    """Echoes go only to the session that sent them."""
    clients = [
        connect(engine_echo, transports=t)
        for t in (["polling"], ["websocket"], None, ["polling"], ["websocket"])
    ]
    try:
        for i, c in enumerate(clients):
            for j in range(5):
                c.send(f"client {i} message {j}")
            c.send(bytes([i]) * 3)
        for i, c in enumerate(clients):
            assert_echoed(c, [f"client {i} message {j}" for j in range(5)] + [bytes([i]) * 3])
        time.sleep(0.2)
        for i, c in enumerate(clients):
            assert len(c.received) == 6, f"client {i} got extra messages: {c.received[6:]}"
    finally:
        for c in clients:
            disconnect_bounded(c)


# --- heartbeat ----------------------------------------------------------------------------


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None],
                         ids=["polling", "websocket", "upgrade"])
def test_short_heartbeat_keeps_session_alive(engine_echo_factory, transports):
    server = engine_echo_factory("--ping-interval", 300, "--ping-timeout", 200)
    client = connect(server, transports=transports)
    try:
        assert client.ping_interval == pytest.approx(0.3)
        assert client.ping_timeout == pytest.approx(0.2)
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            assert not client.disconnects, (
                f"disconnected after {time.monotonic() - start:.2f} s: {client.disconnects}"
            )
            time.sleep(0.05)
        assert client.state == "connected"
        # 2 s at a 300 ms interval is ~6 pings; allow for a slow machine but not for none
        assert client.pings >= 3, f"only {client.pings} pings in 2 s with pingInterval 300 ms"
        sent = ["after heartbeats", b"\x01\x02", "✓"]
        for m in sent:
            client.send(m)
        assert_echoed(client, sent)
    finally:
        disconnect_bounded(client)


def test_ping_timeout_closes_silent_session(engine_echo_factory):
    """A WebSocket client that never answers pings is dropped after about
    pingInterval + pingTimeout (300 + 200 ms); generously bounded at 5 s."""
    server = engine_echo_factory("--ping-interval", 300, "--ping-timeout", 200)
    ws = websocket.create_connection(server.ws_url + "?EIO=4&transport=websocket", timeout=5)
    try:
        assert ws.recv().startswith("0{")
        start = time.monotonic()
        frames = []
        closed = False
        while time.monotonic() - start < 5.0:
            try:
                opcode, frame = ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                break  # nothing for 5 s: not closed
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                closed = True
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed = True
                break
            data = frame.data
            frames.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
        elapsed = time.monotonic() - start
        assert closed, f"session not closed after 5 s without pongs; frames: {frames}"
        assert frames and frames[0] == "2", f"expected a ping first, got {frames}"
        assert elapsed >= 0.4, f"closed too early ({elapsed:.2f} s)"
    finally:
        ws.close()


# --- handshake values ---------------------------------------------------------------------


def test_handshake_values_are_exact(engine_echo_factory):
    server = engine_echo_factory(
        "--ping-interval", 300, "--ping-timeout", 200, "--max-payload", 123456
    )
    r = requests.get(server.url + "?EIO=4&transport=polling", timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").lower().startswith("text/plain"), r.headers
    body = r.content.decode("utf-8")
    assert body.startswith("0{"), body
    assert "\x1e" not in body, f"handshake response carries extra packets: {body!r}"
    data = json.loads(body[1:])
    assert set(data) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}, data
    assert data["pingInterval"] == 300 and type(data["pingInterval"]) is int, data
    assert data["pingTimeout"] == 200 and type(data["pingTimeout"]) is int, data
    assert data["maxPayload"] == 123456 and type(data["maxPayload"]) is int, data
    assert data["upgrades"] == ["websocket"], data
    assert isinstance(data["sid"], str) and len(data["sid"]) == 20, data

    # A second handshake gets a different session id.
    r2 = requests.get(server.url + "?EIO=4&transport=polling", timeout=5)
    assert json.loads(r2.content.decode("utf-8")[1:])["sid"] != data["sid"]

    # A WebSocket-first session advertises no further upgrades.
    ws = websocket.create_connection(server.ws_url + "?EIO=4&transport=websocket", timeout=5)
    try:
        opened = ws.recv()
        assert isinstance(opened, str) and opened.startswith("0{"), opened
        ws_data = json.loads(opened[1:])
        assert ws_data["upgrades"] == [], ws_data
        assert ws_data["pingInterval"] == 300 and ws_data["pingTimeout"] == 200, ws_data
        assert ws_data["maxPayload"] == 123456, ws_data
        assert len(ws_data["sid"]) == 20, ws_data
    finally:
        ws.close()


def test_default_handshake_values(engine_echo):
    r = requests.get(engine_echo.url + "?EIO=4&transport=polling", timeout=5)
    assert r.status_code == 200, r.text
    data = json.loads(r.content.decode("utf-8")[1:])
    assert engine_echo.path == "/engine.io/"
    assert data["pingInterval"] == 25000, data
    assert data["pingTimeout"] == 20000, data
    assert data["maxPayload"] == 1000000, data


def test_custom_path(engine_echo_factory):
    server = engine_echo_factory("--path", "/custom/eio/")
    assert server.path == "/custom/eio/"
    client = connect(server, transports=["polling"])
    try:
        client.send("on a custom path")
        assert_echoed(client, ["on a custom path"])
    finally:
        disconnect_bounded(client)
    r = requests.get(server.origin + "/engine.io/?EIO=4&transport=polling", timeout=5)
    assert r.status_code == 404, (r.status_code, r.text)


# --- CORS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, origin, allowed",
    [
        ((), "http://app.example", None),
        (("--cors-origin", "*"), "http://app.example", "*"),
        (("--cors-origin", "http://app.example", "--cors-origin", "http://other.example"),
         "http://other.example", "http://other.example"),
        (("--cors-origin", "http://app.example"), "http://evil.example", None),
    ],
    ids=["no-cors", "any-origin", "listed-origin", "unlisted-origin"],
)
def test_cors(engine_echo_factory, flags, origin, allowed):
    server = engine_echo_factory(*flags)
    url = server.url + "?EIO=4&transport=polling"
    r = requests.get(url, headers={"Origin": origin}, timeout=5)
    assert r.status_code == 200 and r.text.startswith("0{"), (r.status_code, r.text)
    assert r.headers.get("Access-Control-Allow-Origin") == allowed, dict(r.headers)
    if allowed is not None:
        pre = requests.options(url, timeout=5, headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        })
        assert pre.status_code == 204, (pre.status_code, dict(pre.headers))
        assert pre.headers.get("Access-Control-Allow-Origin") == allowed, dict(pre.headers)
        methods = pre.headers.get("Access-Control-Allow-Methods", "").upper()
        assert "GET" in methods and "POST" in methods, dict(pre.headers)


# --- manual upgrade with a pending poll ---------------------------------------------------


def test_upgrade_releases_pending_poll_with_noop(engine_echo):
    """Upgrade by hand: while a GET is pending, the probe must release it with a noop `6`;
    after `5` the session lives on the WebSocket and the noop is never sent there."""
    base = engine_echo.url + "?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    session = f"{base}&sid={sid}"
    assert requests.post(session, data="4before", timeout=5).status_code == 200
    assert requests.get(session, timeout=5).text == "4before"

    result = {}

    def poll():
        try:
            r = requests.get(session, timeout=TIMEOUT)
            result["status"], result["body"] = r.status_code, r.text
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = repr(exc)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.3)  # let the GET reach the server and park there
    assert poller.is_alive(), f"the poll returned before anything was queued: {result}"

    ws = websocket.create_connection(
        engine_echo.ws_url + f"?EIO=4&transport=websocket&sid={sid}", timeout=5
    )
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        poller.join(5)
        assert not poller.is_alive(), "pending GET not released within 5 s of the probe"
        assert result.get("status") == 200, result
        assert result["body"].split("\x1e") == ["6"], result
        ws.send("5")
        ws.send("4after upgrade")
        ws.send_binary(b"\x00\x01")
        assert ws.recv() == "4after upgrade"  # not a stray "6"
        assert ws.recv() == b"\x00\x01"
    finally:
        ws.close()


def test_client_close_releases_pending_poll(engine_echo):
    """The client's close packet `1` (POSTed while a GET is parked) ends the session: the
    parked GET is answered with a noop `6` (as the reference does), later requests get 400."""
    base = engine_echo.url + "?EIO=4&transport=polling"
    sid = json.loads(requests.get(base, timeout=5).text[1:])["sid"]
    session = f"{base}&sid={sid}"
    result = {}

    def poll():
        try:
            r = requests.get(session, timeout=TIMEOUT)
            result["status"], result["body"] = r.status_code, r.text
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = repr(exc)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.3)
    assert poller.is_alive(), f"the poll returned before anything was queued: {result}"
    r = requests.post(session, data="1", headers={"Content-Type": "text/plain;charset=UTF-8"},
                      timeout=5)
    assert r.status_code == 200 and r.text == "ok", (r.status_code, r.text)
    poller.join(5)
    assert not poller.is_alive(), "the parked GET was not released within 5 s of the close packet"
    assert result.get("status") == 200 and result.get("body") == "6", result
    after = requests.get(session, timeout=5)
    assert after.status_code == 400, (after.status_code, after.text)
    assert after.json() == {"code": 1, "message": "Session ID unknown"}


# --- shutdown -----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_server_with_exit_code_0(engine_echo_factory, sig):
    server = engine_echo_factory()
    ws_client = connect(server, transports=["websocket"])
    poll_client = connect(server, transports=["polling"])
    try:
        for c in (ws_client, poll_client):
            c.send("before shutdown")
            assert_echoed(c, ["before shutdown"])
        # A third session that only did the handshake: polling, no GET parked.
        r = requests.get(server.url + "?EIO=4&transport=polling", timeout=5)
        assert r.status_code == 200 and r.text.startswith("0{"), r.text
        # Stop while all three are connected (the polling client with a GET parked).
        start = time.monotonic()
        rc = server.stop(sig=sig)
        elapsed = time.monotonic() - start
        assert not server.killed, (
            f"EngineEcho did not exit within 5 s of {sig.name} (killed); open sessions: one "
            "WebSocket, one polling with a GET parked, one polling that only did the handshake"
        )
        assert rc == 0, f"EngineEcho exited with {rc} on {sig.name}\n{server.stderr_tail()}"
        assert elapsed < 5.0
        # Both clients notice the end of the session.
        for c in (ws_client, poll_client):
            with c.cond:
                c.cond.wait_for(lambda: c.disconnects, TIMEOUT)
            assert c.disconnects, "client not disconnected after the server shut down"
    finally:
        for c in (ws_client, poll_client):
            disconnect_bounded(c)
