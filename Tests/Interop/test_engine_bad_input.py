"""Malformed and hostile input against ONE EngineEcho process (started with --max-payload 1000).

Each case asserts the protocol's answer (status, error code, session state, connection
behaviour) and is recorded in `.build/bad-input-table.md` (request | expected | answered |
fresh handshake after) for humans. After every single case a fresh handshake must still
succeed: no input may take the server down or wedge it.

Error bodies are JSON {"code": N, "message": ...}: 0 Transport unknown, 1 Session ID unknown,
2 Bad handshake method, 3 Bad request, 5 Unsupported protocol version.
"""

import base64
import json
import os
import re
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

TABLE_PATH = Path(__file__).resolve().parents[2] / ".build" / "bad-input-table.md"
MAX_PAYLOAD = 1000
T = 5.0  # timeout of each request / socket operation (every wait is bounded)

ERRORS = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    5: "Unsupported protocol version",
}

ROWS = []  # dicts: request, expected, answered, alive


@pytest.fixture(scope="module")
def server(module_engine_echo_factory):
    srv = module_engine_echo_factory("--max-payload", MAX_PAYLOAD)
    yield srv
    _write_table()


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _write_table():
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "| request | expected | answered | fresh handshake after |",
        "| --- | --- | --- | --- |",
    ]
    for row in ROWS:
        lines.append(
            "| "
            + " | ".join(
                _cell(row.get(k, "")) for k in ("request", "expected", "answered", "alive")
            )
            + " |"
        )
    TABLE_PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(request, expected, answered):
    row = {"request": request, "expected": expected, "answered": answered, "alive": "?"}
    ROWS.append(row)
    return row


@pytest.fixture(autouse=True)
def server_still_answers(server):
    """After each case (whatever its outcome), a fresh handshake must succeed."""
    first_row = len(ROWS)
    yield
    try:
        sid = handshake(server)
        ok, note = True, f"200 (sid {sid})"
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        ok, note = False, f"FAILED: {exc!r}"
    for row in ROWS[first_row:]:
        row["alive"] = "yes" if ok else note
    if not ok:
        pytest.fail(f"server no longer answers a fresh handshake: {note}\n{server.stderr_tail()}")


# --- helpers ------------------------------------------------------------------------------


def q(server, query):
    return server.url + query


def handshake(server):
    r = requests.get(q(server, "?EIO=4&transport=polling"), timeout=T)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.text.startswith("0{"), r.text
    sid = json.loads(r.text[1:])["sid"]
    assert isinstance(sid, str) and sid
    return sid


def session_url(server, sid, transport="polling"):
    return q(server, f"?EIO=4&transport={transport}&sid={sid}")


def show(r):
    if isinstance(r, NoResponse):
        return r.text
    body = r.text
    if len(body) > 100:
        body = body[:97] + "..."
    return f"{r.status_code} {body}" if body else f"{r.status_code} (empty body)"


def expected_error(status, code):
    return f'{status} {{"code":{code},"message":"{ERRORS[code]}"}}'


def assert_error(r, status, code):
    assert r.status_code == status, f"expected HTTP {status}, got {show(r)}"
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {show(r)}")
    assert body == {"code": code, "message": ERRORS[code]}, f"error body: {body}"


class NoResponse:
    """Stands for a request that got no HTTP response (timeout, reset...)."""

    status_code = None

    def __init__(self, why):
        self.text = why

    def json(self):
        raise ValueError(self.text)


def http(method, url, body=None, content_type="text/plain;charset=UTF-8", timeout=T):
    """One HTTP request on a fresh connection; never raises, so every case gets recorded."""
    headers = {"Content-Type": content_type} if (body is not None and content_type) else {}
    try:
        return requests.request(method, url, data=body, headers=headers, timeout=timeout)
    except requests.exceptions.Timeout:
        return NoResponse(f"(no response within {timeout:.0f} s)")
    except requests.exceptions.RequestException as exc:
        return NoResponse(f"(request failed: {exc.__class__.__name__}: {exc})")


def post(url, body, content_type="text/plain;charset=UTF-8"):
    return http("POST", url, body, content_type)


def get_expect_gone(server, sid):
    """GET on a session that must be gone (expected: 400 code 1). If the session is still
    alive the GET parks until the timeout and comes back as a NoResponse."""
    resp = http("GET", session_url(server, sid))
    if isinstance(resp, NoResponse) and resp.text.startswith("(no response"):
        resp.text = f"(GET parked for {T:.0f} s: the session is still alive)"
    return resp


def raw_connect(server):
    s = socket.create_connection((server.host, server.port), timeout=T)
    s.settimeout(T)
    return s


def read_until_eof(sock, deadline_s=T):
    """Read until the peer closes. Returns (data, how) where how is 'eof', 'reset' or
    'timeout' (the peer kept the connection open for deadline_s)."""
    data = b""
    deadline = time.monotonic() + deadline_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, "timeout"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def parse_server_frames(data):
    """Parse unmasked server WebSocket frames: [(opcode, payload)]; stops at a partial frame."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        opcode, masked, length = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        j = i + 2
        if length == 126:
            if j + 2 > len(data):
                break
            (length,) = struct.unpack("!H", data[j:j + 2])
            j += 2
        elif length == 127:
            if j + 8 > len(data):
                break
            (length,) = struct.unpack("!Q", data[j:j + 8])
            j += 8
        if masked:
            j += 4
        if j + length > len(data):
            break
        frames.append((opcode, data[j:j + length]))
        i = j + length
    return frames


def ws_handshake_raw(server, query="?EIO=4&transport=websocket"):
    """Open a WebSocket by hand on a raw socket; return (socket, bytes after the 101 head)."""
    s = raw_connect(server)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET {server.path}{query} HTTP/1.1\r\n"
            f"Host: {server.host}:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    deadline = time.monotonic() + T
    while b"\r\n\r\n" not in head:
        assert time.monotonic() < deadline, f"no WebSocket handshake response: {head!r}"
        chunk = s.recv(4096)
        assert chunk, f"connection closed during the WebSocket handshake: {head!r}"
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# --- query validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, code",
    [
        ("?transport=polling", 5),
        ("?EIO=3&transport=polling", 5),
        ("?EIO=4", 0),
        ("?EIO=4&transport=flash", 0),
        ("?EIO=4&transport=websocket", 3),
    ],
    ids=["missing-EIO", "EIO=3", "missing-transport", "transport=flash", "websocket-without-upgrade"],
)
def test_bad_handshake_query(server, query, code):
    r = http("GET", q(server, query))
    what = "GET " + server.path + query
    if query.endswith("transport=websocket"):
        what += " (plain HTTP, no Upgrade header)"
    record(what, expected_error(400, code), show(r))
    assert_error(r, 400, code)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_handshake_with_wrong_method(server, method):
    r = http(method, q(server, "?EIO=4&transport=polling"), "4hi")
    record(f"{method} {server.path}?EIO=4&transport=polling (no sid), body 4hi",
           expected_error(400, 2), show(r))
    assert_error(r, 400, 2)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_sid(server, method):
    url = session_url(server, "AAAAAAAAAAAAAAAAAAAA")
    r = http(method, url, "4hi" if method == "POST" else None)
    record(f"{method} with unknown sid", expected_error(400, 1), show(r))
    assert_error(r, 400, 1)


# --- polling body validation ----------------------------------------------------------------


def test_undecodable_post_closes_session(server):
    sid = handshake(server)
    r = post(session_url(server, sid), "abc")
    g = get_expect_gone(server, sid)
    record("POST body `abc` (undecodable) on a live session, then GET",
           "POST 400; session closed: GET " + expected_error(400, 1),
           f"POST {show(r)}; GET {show(g)}")
    assert r.status_code == 400, f"POST abc answered {show(r)}"
    assert_error(g, 400, 1)


def test_client_ping_is_a_protocol_error(server):
    sid = handshake(server)
    r = post(session_url(server, sid), "2")
    g = get_expect_gone(server, sid)
    record("POST `2` (client-originated ping, wrong direction in v4), then GET",
           "session closed: GET " + expected_error(400, 1),
           f"POST {show(r)}; GET {show(g)}")
    assert r.status_code in (200, 400), f"POST 2 answered {show(r)}"
    assert_error(g, 400, 1)


def test_post_larger_than_max_payload(server):
    sid = handshake(server)
    url = session_url(server, sid)
    big = "4" + "x" * (2 * MAX_PAYLOAD)
    r = post(url, big)
    ok = post(url, "4still alive")
    g = http("GET", url)
    record(f"POST of {len(big)} bytes (> --max-payload {MAX_PAYLOAD}), then POST 4still alive + GET",
           "413; session alive: the next message is echoed, the big one is not",
           f"{show(r)}; then POST {show(ok)}; GET {show(g)}")
    assert r.status_code == 413, f"oversized POST answered {show(r)}"
    assert ok.status_code == 200 and ok.text == "ok", f"follow-up POST answered {show(ok)}"
    assert g.status_code == 200 and g.text == "4still alive", f"follow-up GET answered {show(g)}"


def test_post_with_octet_stream_content_type(server):
    sid = handshake(server)
    r = post(session_url(server, sid), b"4hi", content_type="application/octet-stream")
    record("POST 4hi with Content-Type: application/octet-stream", "400", show(r))
    assert r.status_code == 400, f"answered {show(r)}"


def test_second_concurrent_get(server):
    sid = handshake(server)
    url = session_url(server, sid)
    first = {}

    def long_poll():
        try:
            resp = requests.get(url, timeout=T + 5)
            first["status"], first["body"] = resp.status_code, resp.text
        except Exception as exc:  # noqa: BLE001 - reported below
            first["error"] = repr(exc)

    t = threading.Thread(target=long_poll, daemon=True)
    t.start()
    time.sleep(0.5)  # let the first GET park on the server
    assert t.is_alive(), f"first GET returned before anything was queued: {first}"
    second = http("GET", url)
    t.join(T)
    gone = get_expect_gone(server, sid)
    first_desc = (f"{first['status']} {first['body']!r}" if "status" in first
                  else first.get("error", "still pending"))
    record("second concurrent GET on one session (first parked)",
           "first GET 200 `1`, second 400, then session gone (GET 400 code 1)",
           f"first {first_desc}; second {show(second)}; then GET {show(gone)}")
    assert second.status_code == 400, f"second GET answered {show(second)}"
    assert not t.is_alive(), "first GET still pending after the second was rejected"
    assert first.get("status") == 200 and first.get("body") == "1", f"first GET: {first}"
    assert_error(gone, 400, 1)


# --- transports -----------------------------------------------------------------------------


def test_polling_request_after_upgrade(server):
    sid = handshake(server)
    answered = []
    g = p = echoed = None
    ws = websocket.create_connection(
        server.ws_url + f"?EIO=4&transport=websocket&sid={sid}", timeout=T
    )
    try:
        ws.send("2probe")
        probe = ws.recv()
        answered.append(f"probe answer {probe!r}")
        assert probe == "3probe"
        ws.send("5")
        time.sleep(0.2)  # let the server switch transports
        g = http("GET", session_url(server, sid))
        p = post(session_url(server, sid), "4via polling")
        answered.append(f"GET {show(g)}; POST {show(p)}")
        ws.send("4still on websocket")
        try:
            echoed = ws.recv()
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            echoed = f"({exc.__class__.__name__})"
        answered.append(f"WebSocket echo {echoed!r}")
    finally:
        ws.close()
        record("upgrade by hand (2probe/3probe/5), then polling GET and POST with that sid",
               f"GET {expected_error(400, 3)}; POST the same; WebSocket unaffected",
               "; ".join(answered))
    assert_error(g, 400, 3)
    assert_error(p, 400, 3)
    assert echoed == "4still on websocket"


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_websocket_frame_larger_than_max_payload(server, kind):
    ws = websocket.create_connection(server.ws_url + "?EIO=4&transport=websocket", timeout=T)
    try:
        assert ws.recv().startswith("0{")
        if kind == "text":
            ws.send("4" + "x" * (2 * MAX_PAYLOAD))
        else:
            ws.send_binary(b"\x01" * (2 * MAX_PAYLOAD))
        outcome, code, other = None, None, []
        deadline = time.monotonic() + T
        while time.monotonic() < deadline:
            try:
                opcode, frame = ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                outcome = "no close within timeout"
                break
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                outcome = "connection dropped without a close frame"
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = close_code(frame.data)
                outcome = f"close frame, code {code}"
                break
            other.append(frame.data[:40])
        record(f"WebSocket {kind} frame of {2 * MAX_PAYLOAD + (kind == 'text')} bytes "
               f"(> --max-payload {MAX_PAYLOAD})",
               "close frame 1009", f"{outcome}" + (f"; before it: {other}" if other else ""))
        assert code == 1009, f"{outcome}; frames before: {other}"
    finally:
        ws.close()


def test_websocket_garbage_after_handshake(server):
    s, rest = ws_handshake_raw(server)
    try:
        s.sendall(b"\xff" * 64)  # FIN+RSV1-3+opcode 15, unmasked, 64-bit length 2^64-1, ...
        data, how = read_until_eof(s)
        frames = parse_server_frames(rest + data)
        closes = [close_code(p) for op, p in frames if op == 0x8]
        record("raw WebSocket (valid 101 handshake), then 64 bytes 0xFF",
               "server closes the connection",
               f"{how}; frames from server: {[op for op, _ in frames]}; close codes {closes}")
        assert how in ("eof", "reset"), f"connection still open after {T:.0f} s"
    finally:
        s.close()


# --- HTTP layer -----------------------------------------------------------------------------


def test_half_open_request_does_not_block_others(server):
    stalled = []
    try:
        for _ in range(5):
            s = raw_connect(server)
            s.sendall(f"GET {server.path}?EIO=4&tra".encode())
            stalled.append(s)
        time.sleep(0.2)
        start = time.monotonic()
        sid = handshake(server)
        url = session_url(server, sid)
        p = post(url, "4while others stall")
        g = http("GET", url)
        elapsed = time.monotonic() - start
        record("5 TCP connections each sending a partial request line and stalling; "
               "meanwhile handshake + POST + GET on another connection",
               "others served normally",
               f"handshake ok, POST {show(p)}, GET {show(g)} in {elapsed:.2f} s")
        assert p.status_code == 200 and g.text == "4while others stall"
        assert elapsed < 3.0, f"serving others took {elapsed:.2f} s"
    finally:
        for s in stalled:
            s.close()


def test_garbage_instead_of_http(server):
    s = raw_connect(server)
    try:
        s.sendall(b"\x00\x01\x02\x03 this is not HTTP at all \xff\xfe\r\n\r\n")
        data, how = read_until_eof(s)
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        record("raw bytes `\\x00\\x01\\x02\\x03 this is not HTTP...` instead of a request",
               "HTTP 400, then connection closed", f"{status_line!r}, then {how}")
        assert re.match(r"HTTP/1\.[01] 400 ", status_line), f"answered {data[:200]!r}"
        assert how in ("eof", "reset"), f"connection still open after {T:.0f} s"
    finally:
        s.close()


@pytest.mark.parametrize("path", ["/wrong/", "/", "/engine.io.js", "/wrong/engine.io/"])
def test_wrong_path(server, path):
    r = http("GET", f"{server.origin}{path}?EIO=4&transport=polling")
    record(f"GET {path}?EIO=4&transport=polling (not the engine path)", "404", show(r))
    assert r.status_code == 404, f"answered {show(r)}"
