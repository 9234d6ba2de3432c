"""The Chat sample's own page in headless Chromium, on each of its clients: `parley.js`, which
the server serves itself, and the official Socket.IO browser client (socket.io.min.js 4.8.1,
`?client=socketio`).

Two pages: one restricted to long-polling (`?transports=polling`), one with the client's
defaults (polling, then the upgrade to WebSocket). They pick nicknames, join the same room,
see each other's typing indicator and messages, and get their own messages acknowledged
with a server-assigned id. Screenshots land in .build/chat-screenshots/.

Then pages served from another origin (a static file server on another port) with the same
bundle, against the BenchServer sample (`--cors-origin`): binary arguments (Uint8Array and
ArrayBuffer) echoed back intact over each transport, and a cross-origin page that is let in
only by the server's CORS setting.

Recipe: /work/shared/TESTING-NOTES.md (Debian chromium + chromium-driver, no driver
download, loopback-only host resolver rules). Every wait is bounded.
"""

import functools
import http.server
import os
import shutil
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

# Selenium must never try to download a browser or a driver: this machine may be offline.
os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # required when running as root
    "--disable-dev-shm-usage",
    # Without it the first page load can stall ~5 s while the start page resolves a name.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--window-size=900,600",
]
TIMEOUT = 15.0  # the bound on every wait in this file
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".build" / "chat-screenshots"


@pytest.fixture
def open_page():
    """Factory: `open_page(url)` starts a headless Chromium on `url` and returns its driver.
    Teardown disconnects each page's socket (a polling client that just goes away would stay
    connected until the ping timeout) and quits every browser."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install the Debian packages chromium and chromium-driver "
                        "(`bash Tests/run.sh` does)", pytrace=False)
    drivers = []

    def start(url):
        options = Options()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        drivers.append(driver)
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)
        driver.get(url)
        return driver

    yield start
    for driver in drivers:
        try:
            driver.execute_script("if (window.socket) window.socket.disconnect();")
        except WebDriverException:
            pass  # the page is gone already; the server's ping timeout covers it
        driver.quit()


def wait_for(driver, expression, what, timeout=TIMEOUT):
    """Waits until the JavaScript `expression` is truthy in `driver`'s page; returns its value."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: d.execute_script(f"return ({expression});")
        )
    except TimeoutException:
        status = driver.execute_script("return document.getElementById('status')?.textContent;")
        notices = driver.execute_script(
            "return [...document.querySelectorAll('#messages li')].map(li => li.textContent);"
        )
        pytest.fail(f"{what}: not within {timeout:.0f} s (status {status!r}, messages {notices!r})",
                    pytrace=False)


def fill(driver, field_id, text, button_id):
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(text)
    driver.find_element(By.ID, button_id).click()


def texts(driver, selector):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);", selector
    )


PARLEY_JS = Path(__file__).resolve().parents[2] / "Sources" / "Parley" / "Resources" / "parley.js"


@pytest.mark.parametrize("client", ["parley.js", "socket.io"])
def test_two_browsers_chat_over_polling_and_websocket(client, chat_server_factory, official_client_js, open_page):
    if client == "socket.io":
        server = chat_server_factory("--client-js", official_client_js)
        with urllib.request.urlopen(f"{server.url}socket.io/socket.io.min.js", timeout=TIMEOUT) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/javascript"
            assert response.read() == official_client_js.read_bytes()
        query = "?client=socketio&"
    else:
        # Nothing to download: the server serves its own client.
        server = chat_server_factory()
        with urllib.request.urlopen(f"{server.url}parley.js", timeout=TIMEOUT) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/javascript")
            assert response.read() == PARLEY_JS.read_bytes()
        query = "?"

    polling = open_page(f"{server.url}{query}transports=polling")
    default = open_page(f"{server.url}{query}".rstrip("?&"))
    pages = {"alice": polling, "bob": default}

    for nick, page in pages.items():
        wait_for(page, f"window.chatClient === {client!r}", f"{nick}'s page loads {client}")
        # Connected, and the server's welcome (a guest nickname) arrived, so typing is safe.
        wait_for(page, "window.socket && window.socket.connected && window.chat.nick", f"{nick}'s page connects")

    # Everything bob does from here on must go over the WebSocket: wait for the engine's
    # upgrade (its "upgrade" event, or the transport already switched) before chatting.
    default.execute_script("""
        const engine = window.socket.io.engine;
        window.upgradedTo = engine.transport.name === 'websocket' ? 'websocket' : null;
        engine.on('upgrade', (transport) => { window.upgradedTo = transport.name; });
    """)
    wait_for(default, "window.upgradedTo === 'websocket' && window.socket.io.engine.transport.name === 'websocket'",
             "the default page upgrades to websocket")
    assert polling.execute_script("return window.socket.io.engine.transport.name;") == "polling"

    for nick, page in pages.items():
        fill(page, "nick", nick, "nick-set")
        wait_for(page, f"window.chat.nick === '{nick}'", f"{nick}'s nickname is acknowledged")

    room = f"room-{uuid.uuid4().hex[:8]}"
    for nick, page in pages.items():
        fill(page, "room", room, "join")
        wait_for(page, f"window.chat.room === '{room}'", f"{nick} joins {room}")
    wait_for(polling, "window.chat.members.includes('bob')", "alice sees bob join")
    assert default.execute_script("return window.chat.members;") == ["alice", "bob"]

    # Typing indicators are volatile; the receiver here is the WebSocket page.
    polling.find_element(By.ID, "text").send_keys("hel")
    wait_for(default, "document.getElementById('typing').textContent === 'alice is typing…'", "bob sees alice typing")

    sent = {"alice": "hello from alice over polling", "bob": "hi alice, bob here"}
    polling.find_element(By.ID, "text").clear()
    fill(polling, "text", sent["alice"], "send")
    fill(default, "text", sent["bob"], "send")

    for (nick, page), (other, other_page) in [(("alice", polling), ("bob", default)), (("bob", default), ("alice", polling))]:
        wait_for(page, f"[...document.querySelectorAll('.msg:not(.mine) .text')].some(e => e.textContent === {sent[other]!r})",
                 f"{nick} sees {other}'s message")
        wait_for(page, "document.querySelector('.msg.mine[data-id]')", f"{nick}'s own message is acknowledged")
        # The id the sender got in its ack is the id the other page received.
        own_id = page.execute_script("return document.querySelector('.msg.mine').dataset.id;")
        seen_by_other = other_page.execute_script(
            "return [...document.querySelectorAll('.msg:not(.mine)')].map(e => e.dataset.id);"
        )
        assert own_id in seen_by_other
        assert texts(page, ".msg.mine .text") == [sent[nick]]
    wait_for(default, "document.getElementById('typing').textContent === ''", "alice's typing indicator clears")

    # Still on the transports they chatted over.
    assert default.execute_script("return window.socket.io.engine.transport.name;") == "websocket"
    wait_for(default, "document.getElementById('status').textContent.includes('websocket')", "the status shows websocket")
    assert polling.execute_script("return window.socket.io.engine.transport.name;") == "polling"
    assert "polling" in polling.find_element(By.ID, "status").text

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert polling.save_screenshot(str(SCREENSHOTS / f"{client}-alice-polling.png"))
    assert default.save_screenshot(str(SCREENSHOTS / f"{client}-bob-websocket.png"))


def test_page_explains_how_to_get_the_client_without_client_js(chat_server_factory, open_page):
    server = chat_server_factory()

    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{server.url}socket.io/socket.io.min.js", timeout=TIMEOUT)
    assert missing.value.code == 404

    page = open_page(f"{server.url}?client=socketio")
    wait_for(page, "!document.getElementById('help').hidden", "the help box shows")
    help_text = page.find_element(By.ID, "help").text
    assert "--client-js" in help_text and "pip download" in help_text
    assert page.find_element(By.ID, "status").text == "client missing"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert page.save_screenshot(str(SCREENSHOTS / "no-client-js.png"))


# --- Pages from another origin, against BenchServer ----------------------------------------

STATIC_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>parley cross-origin</title></head>
<body><p id="origin"></p>
<script src="socket.io.min.js"></script>
<script>document.getElementById('origin').textContent = location.origin;</script>
</body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def static_site(tmp_path, official_client_js):
    """A static file server on 127.0.0.1 (another port, so another origin than any Socket.IO
    server) serving `index.html`, which loads the official socket.io.min.js from it.
    Yields its origin, e.g. `http://127.0.0.1:40123`."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(STATIC_PAGE)
    shutil.copy(official_client_js, root / "socket.io.min.js")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=TIMEOUT)


# Connects with `transports` (null: the client's default), emits `echo` with binary arguments
# and reports what came back. Runs as an async WebDriver script: the last argument is `done`.
BINARY_ECHO_SCRIPT = """
const [url, transports, done] = arguments;
const socket = io(url, transports ? { transports } : {});
window.socket = socket;
socket.on('connect_error', (err) => done({ error: String(err && err.message) }));
// Every ack argument (emitWithAck resolves with the first one only).
const ack = (...args) => new Promise((resolve, reject) =>
  socket.timeout(10000).emit(...args, (err, ...reply) => (err ? reject(err) : resolve(reply))));
socket.on('connect', async () => {
  try {
    const small = new Uint8Array(256).map((_, i) => i);
    const large = new Uint8Array(70000).map((_, i) => (i * 7) % 251);
    const buffer = new Uint8Array([0xff, 0x00, 0x7f, 0x80]).buffer;
    const reply = await ack('echo', 'bytes', small, { nested: buffer, list: [large] });
    const kind = (value) => Object.prototype.toString.call(value);
    const same = (a, b) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
    done({
      transport: socket.io.engine.transport.name,
      count: reply.length,
      label: reply[0],
      smallKind: kind(reply[1]),
      small: Array.from(new Uint8Array(reply[1])),
      nestedKind: kind(reply[2].nested),
      nested: Array.from(new Uint8Array(reply[2].nested)),
      largeLength: reply[2].list[0].byteLength,
      largeSame: same(new Uint8Array(reply[2].list[0]), large),
    });
  } catch (err) {
    done({ error: String(err && err.message) });
  }
});
"""


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_page_sends_binary_and_gets_it_back_intact(bench_server_factory, static_site, open_page, transport):
    server = bench_server_factory("swift", "--cors-origin", static_site)
    page = open_page(f"{static_site}/index.html")
    assert page.execute_script("return typeof io;") == "function", "the page did not load the bundle"
    result = page.execute_async_script(BINARY_ECHO_SCRIPT, server.url, [transport])
    assert "error" not in result, result
    assert result["transport"] == transport
    assert result["count"] == 3 and result["label"] == "bytes"
    assert result["smallKind"] == "[object ArrayBuffer]"
    assert result["small"] == list(range(256))
    assert result["nestedKind"] == "[object ArrayBuffer]"
    assert result["nested"] == [0xFF, 0x00, 0x7F, 0x80]
    assert result["largeLength"] == 70000 and result["largeSame"] is True


# Connects over polling (the transport CORS governs: XHRs to another origin), then sends a
# message to its room and reports what it got back.
CROSS_ORIGIN_SCRIPT = """
const [url, done] = arguments;
const socket = io(url, { transports: ['polling'], reconnection: false });
window.socket = socket;
socket.on('connect_error', (err) => done({ error: String(err && err.message), origin: location.origin }));
const ack = (...args) => new Promise((resolve, reject) =>
  socket.timeout(10000).emit(...args, (err, ...reply) => (err ? reject(err) : resolve(reply))));
socket.on('connect', async () => {
  try {
    // With recovery on, the server adds the message's offset as a last argument: drop it.
    const received = new Promise((resolve) => socket.on('msg', (...args) =>
      resolve(/^[0-9a-z]{8}-[a-m][0-9a-z]+$/.test(args[args.length - 1]) ? args.slice(0, -1) : args)));
    const joined = await ack('join', 'across');
    await ack('broadcast', 'across', 'hello from', location.origin);
    const echoed = await ack('echo', { text: 'héllo', n: 1 });
    done({ origin: location.origin, joined, msg: await received, echoed });
  } catch (err) {
    done({ error: String(err && err.message), origin: location.origin });
  }
});
"""


def test_a_page_from_another_origin_is_let_in_by_the_servers_cors_setting(bench_server_factory, static_site, open_page):
    allowed = bench_server_factory("swift", "--cors-origin", static_site)
    # The same server without the page's origin in its list: the browser must refuse the
    # responses, so the client cannot connect. This is what makes the first case mean CORS.
    other = bench_server_factory("swift", "--cors-origin", "http://127.0.0.1:1")
    assert allowed.origin != static_site and other.origin != static_site

    page = open_page(f"{static_site}/index.html")
    result = page.execute_async_script(CROSS_ORIGIN_SCRIPT, allowed.url)
    assert "error" not in result, result
    assert result["origin"] == static_site
    assert result["joined"] == ["across"]
    assert result["msg"] == ["hello from", static_site]
    assert result["echoed"] == [{"text": "héllo", "n": 1}]

    refused = open_page(f"{static_site}/index.html")
    result = refused.execute_async_script(CROSS_ORIGIN_SCRIPT, other.url)
    assert result.get("error") == "xhr poll error", result
