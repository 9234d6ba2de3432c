"""parley.js, Parley's browser client, in headless Chromium — and the official Socket.IO client
(socket.io.min.js 4.8.1) on the same page, as the reference the harness is checked against.

Every test runs once per client (`client` fixture: `parley`, `socketio`; the environment
variable PARLEYJS_CLIENTS=parley or =socketio narrows it; PARLEYJS_FILE=path tests another copy
of parley.js). The page is
Tests/Interop/parleyjs/harness.html (API in harness.js): it connects as its query string says
and the test drives it through `window.harness` with WebDriver's async scripts.

a) Against BenchServer (the Parley sample; its `ask` event makes the server emit with an ack),
   for polling only, WebSocket only, and polling then the upgrade: events, acks both ways,
   binary both ways (all 256 byte values, ArrayBuffer / Uint8Array / Blob out, ArrayBuffer
   in), reconnection after the server is SIGKILLed and started again on the same port, and
   connection state recovery after a cut network (messages published meanwhile arrive once,
   in order, `socket.recovered === true`).
b) Against python-socketio (socketio_server_peer.py): events, acks both ways, binary, a
   namespace with auth, reconnection after a restart on the same port.
c) Through a proxy that answers WebSocket upgrades itself and then forwards nothing: a page
   with `transports: ["websocket", "polling"]` must end up connected over polling; the time
   it took is printed (`-s` shows it).
d) Every page is photographed at the end of its test into .build/parleyjs-screenshots/.

The pages load from the server under test (same origin): BenchServer serves the harness from
a temporary folder with `--static-dir`, python-socketio with `--harness`. `/parley.js` is the
repository's Sources/Parley/Resources/parley.js: the test copies it into the static folder,
unless the server already serves that very file itself (it then tests the built-in one).

Run: PARLEY_BIN=$PWD/.build/debug .build/venv/bin/python -m pytest -q
Tests/Interop/test_parleyjs_browser.py -o cache_dir=.build/pytest-cache (after `swift build`).
Every wait is bounded; every process started here is stopped by its PID.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from pathlib import Path

import pytest
import socketio

from browser_proxy import BrowserProxy
from conftest import REPO_ROOT, STOP_TIMEOUT, ServerFactory, _die_with_parent

# Selenium must never try to download a browser or a driver: this machine may be offline.
os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
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
TIMEOUT = 15.0  # the bound on every wait in this file, in seconds
STALL_BOUND = 15.0  # how long a page behind a stalling proxy may take to connect over polling
HARNESS_DIR = Path(__file__).resolve().parent / "parleyjs"
# PARLEYJS_FILE tests another copy of the client (e.g. an experiment) in place of the repository's.
PARLEY_JS = Path(os.environ.get("PARLEYJS_FILE") or REPO_ROOT / "Sources" / "Parley" / "Resources" / "parley.js")
PEER = Path(__file__).resolve().parent / "socketio_server_peer.py"
SCREENSHOTS = REPO_ROOT / ".build" / "parleyjs-screenshots"
CLIENTS = [name for name in os.environ.get("PARLEYJS_CLIENTS", "parley,socketio").split(",") if name]
TRANSPORTS = {"polling": "polling", "websocket": "websocket", "upgrade": "polling,websocket"}
ALL_BYTES = list(range(256))


# ---- the page -------------------------------------------------------------------------------

# Calls harness.run(name, ...args) and hands its {ok} / {error} to WebDriver.
RUN_SCRIPT = """
const done = arguments[arguments.length - 1];
const [name, ...args] = Array.from(arguments).slice(0, -1);
if (!window.harness) { done({ error: 'window.harness is missing (harness.js did not run)' }); return; }
window.harness.run(name, ...args).then(done);
"""


class Page:
    """One harness page in its own Chromium."""

    def __init__(self, driver, url, screenshot):
        self.driver = driver
        self.url = url
        self.screenshot = screenshot  # where photograph() saves the page
        self.photographed = False

    def photograph(self):
        """Saves a screenshot of the page (the fixture does it at teardown otherwise)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.photographed = self.driver.save_screenshot(str(self.screenshot))
        return self.photographed

    def call(self, name, *args):
        """`harness.<name>(...args)`'s value; fails the test with the page's state on an error."""
        result = self.try_call(name, *args)
        if "error" in result:
            pytest.fail(f"harness.{name}{tuple(args)!r:.300}: {result['error']}\n{self.describe()}", pytrace=False)
        return result["ok"]

    def try_call(self, name, *args):
        """{"ok": value} or {"error": message}."""
        try:
            return self.driver.execute_async_script(RUN_SCRIPT, name, *args)
        except WebDriverException as error:
            return {"error": f"WebDriver: {error.msg}"}

    def wait(self, expression, what, timeout=TIMEOUT):
        """Waits until the JavaScript `expression` (with `harness` in scope) is truthy."""
        result = self.try_call("waitFor", expression, int(timeout * 1000))
        if "error" in result:
            pytest.fail(f"{what}: {result['error']}\n{self.describe()}", pytrace=False)
        return result["ok"]

    def state(self):
        return self.call("state")

    def received(self, event):
        return self.call("received", event)

    def transport(self):
        return self.call("transport")

    def describe(self):
        """The page's state and the tail of its console, for failure messages."""
        try:
            state = self.driver.execute_script("return window.harness ? window.harness.state() : null;")
        except WebDriverException as error:
            state = f"<unavailable: {error.msg}>"
        try:
            console = [entry["message"] for entry in self.driver.get_log("browser")][-15:]
        except WebDriverException:
            console = []
        return f"page {self.url}\nstate {json.dumps(state)[:3000]}\nconsole {json.dumps(console, indent=1)[-3000:]}"


def harness_url(origin, client, **params):
    query = {"client": client, **{key: value for key, value in params.items() if value is not None}}
    return f"{origin}/harness.html?{urllib.parse.urlencode(query)}"


@pytest.fixture(params=CLIENTS)
def client(request):
    """The client the page loads: "parley" (parley.js) or "socketio" (the official bundle)."""
    return request.param


@pytest.fixture
def browser(request):
    """Factory: `browser(url)` opens the harness page at `url` in a headless Chromium and waits
    for its script. Teardown photographs every page not photographed yet into
    .build/parleyjs-screenshots/<test>-<n>.png, disconnects its socket (a polling page that
    just goes away stays connected until the ping timeout) and quits every browser."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: install the Debian packages chromium and chromium-driver "
                        "(`bash Tests/run.sh` does)", pytrace=False)
    pages = []
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def start(url):
        options = Options()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        page = Page(driver, url, SCREENSHOTS / f"{stem}-{len(pages)}.png")
        pages.append(page)
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT + 10)  # above every bound inside the page
        driver.get(url)
        try:
            WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(lambda d: d.execute_script("return !!window.harness;"))
        except TimeoutException:
            pytest.fail(f"harness.js did not run within {TIMEOUT:.0f} s\n{page.describe()}", pytrace=False)
        driver.execute_script("window.harness.note(arguments[0]);", request.node.name)
        return page

    yield start
    for page in pages:
        try:
            if not page.photographed:
                page.photograph()
            page.driver.execute_script("if (window.socket) window.socket.disconnect();")
        except WebDriverException:
            pass  # the page is gone already; the server's ping timeout covers it
        page.driver.quit()


# ---- where /parley.js comes from -------------------------------------------------------------


def fetch(url):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.fixture(scope="session")
def builtin_parley_js(tmp_path_factory):
    """Whether BenchServer serves the repository's parley.js at /parley.js by itself. Until it
    does (or when its copy differs from the file, e.g. a binary built before an edit), the
    harness folder carries the file and the server serves it from there."""
    factory = ServerFactory(tmp_path_factory.mktemp("probe"), executable="BenchServer", extra_lines=1)
    server = factory.start("--no-recovery")
    try:
        status, body = fetch(f"{server.origin}/parley.js")
    finally:
        server.stop()
    if status != 200:
        print(f"BenchServer does not serve /parley.js (HTTP {status}): the test serves {PARLEY_JS}")
        return False
    if body != PARLEY_JS.read_bytes():
        warnings.warn(f"BenchServer serves a /parley.js that differs from {PARLEY_JS} (built before the "
                      "last edit?): the test serves the file instead")
        return False
    return True


@pytest.fixture(scope="session")
def harness_site(tmp_path_factory, official_client_js, builtin_parley_js):
    """The folder BenchServer serves with --static-dir: the harness, the official bundle and,
    unless the server has it built in, parley.js."""
    folder = tmp_path_factory.mktemp("harness-site")
    for name in ("harness.html", "harness.js"):
        shutil.copy(HARNESS_DIR / name, folder / name)
    shutil.copy(official_client_js, folder / "socket.io.min.js")
    if not builtin_parley_js:
        shutil.copy(PARLEY_JS, folder / "parley.js")
    return folder


# ---- python-socketio ------------------------------------------------------------------------


class Peer:
    """A running socketio_server_peer.py; `observations` fills with the JSON lines it prints."""

    def __init__(self, proc, port, stderr_path):
        self.proc = proc
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.stderr_path = stderr_path
        self.observations = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.observations.append(json.loads(line))
            except ValueError:
                pass

    def seen(self, event):
        return [o for o in self.observations if o.get("event") == event]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        return self.proc.returncode


@pytest.fixture
def peer_factory(tmp_path, official_client_js):
    """Factory: `peer_factory(port=0)` starts socketio_server_peer.py serving the harness,
    parley.js (read from the repository on each request) and the official bundle. Teardown
    stops every peer by its PID and fails if one exited non-zero on SIGTERM."""
    peers = []

    def start(port=0):
        stderr_path = tmp_path / f"peer-{len(peers)}.stderr.log"
        command = [sys.executable, "-u", str(PEER), "--port", str(port), "--lifetime", "300", "--quiet",
                   "--harness", "--static", f"/socket.io.min.js={official_client_js}", "--static", f"/parley.js={PARLEY_JS}"]
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                    preexec_fn=_die_with_parent, text=True, bufsize=1)
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        line = proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
            pytest.fail(f"{PEER.name} printed no port within {TIMEOUT:.0f} s (got {line!r}):\n"
                        f"{stderr_path.read_text(errors='replace')[-3000:]}", pytrace=False)
        peer = Peer(proc, int(line), stderr_path)
        peers.append(peer)
        return peer

    yield start
    bad = []
    for peer in peers:
        crashed = peer.proc.poll()
        code = peer.stop()
        if crashed is None and code != 0:
            bad.append(f"peer on {peer.port} exited with {code} after SIGTERM")
    if bad:
        pytest.fail("\n".join(bad), pytrace=False)


# ---- a) BenchServer -------------------------------------------------------------------------


def connected(page, transports_name):
    """Waits for the page's first connect and, for the upgrade case, for the WebSocket."""
    page.wait("harness.state().connected", "the page connects")
    if transports_name == "upgrade":
        page.wait("harness.state().upgrades.length > 0 && harness.transport() === 'websocket'",
                  "the page upgrades to websocket")
    return page.state()


def assert_on_transport(page, transports_name):
    expected = "polling" if transports_name == "polling" else "websocket"
    assert page.transport() == expected
    state = page.state()
    if transports_name == "polling":
        assert state["upgrades"] == []
    if transports_name == "websocket":
        assert state["connects"][0]["transport"] == "websocket"


@pytest.mark.parametrize("transports_name", list(TRANSPORTS))
def test_events_acks_and_binary_with_benchserver(bench_server_factory, harness_site, browser, client, transports_name):
    server = bench_server_factory("swift", "--no-recovery", "--static-dir", harness_site)
    page = browser(harness_url(server.origin, client, transports=TRANSPORTS[transports_name], listen="msg"))
    connected(page, transports_name)

    # Acks from the server: emitWithAck resolves with the first argument, a callback gets all.
    values = ["héllo ✓ \"quoted\" \n", 42, -1.5, True, None, {"nested": [1, {"deep": "x"}], "empty": {}}, []]
    assert page.call("emitWithAck", "echo", *values) == values[0]
    assert page.call("ack", "echo", *values) == values
    assert page.call("ack", "echo") == []

    # Events from the server: a room broadcast (fire and forget, then volatile).
    room = f"room-{uuid.uuid4().hex[:8]}"
    assert page.call("ack", "join", room) == [room]
    page.call("emit", "broadcast", room, {"text": "to the room"})
    page.wait("harness.received('msg').length >= 1", "the room message")
    page.call("volatileEmit", "broadcast", room, "volatile")
    page.wait("harness.received('msg').length >= 2", "the volatile room message")
    assert page.received("msg") == [[{"text": "to the room"}], ["volatile"]]

    # Acks from the client: `ask` makes the server emit `question` with an ack id, and acks
    # `ask` with what the page answered — binary included, both ways.
    page.call("answer", "question", [{"answer": 42}, "two", {"$uint8array": [9, 8, 7]}])
    reply = page.call("ack", "ask", "question", "life", {"$uint8array": [1, 2, 3]})
    assert reply == [{"answer": 42}, "two", {"$arraybuffer": [9, 8, 7]}]
    assert page.received("question") == [["life", {"$arraybuffer": [1, 2, 3]}]]

    # Binary both ways: every byte value, as Uint8Array, ArrayBuffer and Blob; back as ArrayBuffer.
    assert page.call("ack", "echo", {"$uint8array": ALL_BYTES}) == [{"$arraybuffer": ALL_BYTES}]
    assert page.call("emitWithAck", "echo", {"$arraybuffer": ALL_BYTES[::-1]}) == {"$arraybuffer": ALL_BYTES[::-1]}
    assert page.call("ack", "echo", {"$blob": ALL_BYTES}) == [{"$arraybuffer": ALL_BYTES}]
    mixed = ["label", {"data": {"$uint8array": [0, 255]}, "list": [{"$uint8array": []}, 7]}, {"$uint8array": [128]}]
    assert page.call("ack", "echo", *mixed) == [
        "label", {"data": {"$arraybuffer": [0, 255]}, "list": [{"$arraybuffer": []}, 7]}, {"$arraybuffer": [128]},
    ]
    large = [(i * 7) % 251 for i in range(70_000)]
    assert page.call("ack", "echo", {"$uint8array": large}) == [{"$arraybuffer": large}]

    assert_on_transport(page, transports_name)
    state = page.state()
    assert len(state["connects"]) == 1 and state["disconnects"] == [] and state["pageErrors"] == []


@pytest.mark.parametrize("transports_name", list(TRANSPORTS))
def test_reconnects_after_benchserver_is_killed_and_restarted_on_its_port(
        bench_server_factory, harness_site, browser, client, transports_name, tmp_path):
    store = tmp_path / "recovery.sqlite"
    flags = ("--static-dir", harness_site, "--recovery-store", store)
    server = bench_server_factory("swift", *flags)
    page = browser(harness_url(server.origin, client, transports=TRANSPORTS[transports_name], listen="msg",
                               reconnectionDelay=100, reconnectionDelayMax=400))
    first = connected(page, transports_name)["connects"][0]
    assert page.call("emitWithAck", "echo", "before") == "before"
    # A client asks for recovery with the offset of the last event it got: give it one.
    room = f"room-{uuid.uuid4().hex[:8]}"
    assert page.call("ack", "join", room) == [room]
    assert page.call("ack", "broadcast", room, "before the kill") == []
    page.wait("harness.received('msg').length === 1", "the room message")

    assert server.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    page.wait("harness.state().disconnects.length >= 1", "the page sees the connection go")
    assert page.state()["connected"] is False
    restarted = bench_server_factory("swift", *flags, "--port", server.port)
    assert restarted.port == server.port

    page.wait("harness.state().reconnects.length >= 1 && harness.state().connected",
              "the page reconnects to the restarted server")
    if transports_name == "upgrade":
        page.wait("harness.transport() === 'websocket'", "the page upgrades again")
    assert page.call("emitWithAck", "echo", "after") == "after"
    assert_on_transport(page, transports_name)
    state = page.state()
    assert state["reconnectAttempts"] >= 1
    # Same recovery store and an offset to resume from: the socket is recovered, as after a cut.
    assert state["connects"][-1]["id"] == first["id"] and state["connects"][-1]["recovered"] is True, state["connects"]


def publisher(url):
    """A python-socketio client connected straight to the server (not through the proxy)."""
    pub = socketio.Client(reconnection=False)
    pub.connect(url, transports=["websocket"], wait_timeout=10)
    return pub


def publish(pub, room, numbers):
    for n in numbers:
        assert pub.call("publish", (room, n), timeout=10) is True


def payloads(page):
    # With recovery on, each `msg` carries its offset as an extra last argument.
    return [args[0] for args in page.received("msg")]


@pytest.mark.parametrize("transports_name", list(TRANSPORTS))
def test_recovers_the_messages_missed_while_the_network_was_cut(
        bench_server_factory, harness_site, browser, client, transports_name, tmp_path):
    server = bench_server_factory("swift", "--static-dir", harness_site, "--recovery-store", tmp_path / "recovery.sqlite")
    proxy = BrowserProxy(server.port)
    pub = None
    try:
        origin = f"http://127.0.0.1:{proxy.port}"
        page = browser(harness_url(origin, client, transports=TRANSPORTS[transports_name], listen="msg",
                                   reconnectionDelay=100, reconnectionDelayMax=400))
        first = connected(page, transports_name)["connects"][0]
        assert first["recovered"] is False
        room = f"room-{uuid.uuid4().hex[:8]}"
        assert page.call("ack", "join", room) == [room]

        pub = publisher(server.url)
        publish(pub, room, [0])
        page.wait("harness.received('msg').length === 1", "message 0")

        # The network drops: every connection of the page is cut and it cannot reconnect
        # while ten messages are published.
        proxy.refusing = True
        proxy.cut_all()
        page.wait("harness.state().disconnects.length === 1", "the page notices the cut")
        publish(pub, room, range(1, 11))
        proxy.refusing = False

        page.wait("harness.state().connects.length === 2", "the page reconnects")
        page.wait("harness.received('msg').length >= 11", "the missed messages")
        state = page.state()
        assert state["connects"][1]["id"] == first["id"]
        assert state["connects"][1]["recovered"] is True and state["recovered"] is True
        assert payloads(page) == list(range(11))

        # Live messages still arrive, once.
        publish(pub, room, [11])
        page.wait("harness.received('msg').length >= 12", "a live message")
        assert page.call("emitWithAck", "echo", "still there") == "still there"
        assert payloads(page) == list(range(12))
        page.photograph()  # before the proxy goes
    finally:
        if pub is not None:
            pub.disconnect()
        proxy.stop()


# ---- b) python-socketio ---------------------------------------------------------------------


@pytest.mark.parametrize("transports_name", list(TRANSPORTS))
def test_events_acks_and_binary_with_python_socketio(peer_factory, browser, client, transports_name):
    peer = peer_factory()
    page = browser(harness_url(peer.origin, client, transports=TRANSPORTS[transports_name],
                               listen="welcome,answer,answer_failed,bytes_event"))
    state = connected(page, transports_name)
    # python-socketio emits `welcome` before its CONNECT reply: the client holds it until then.
    page.wait("harness.received('welcome').length === 1", "the welcome event")
    assert page.received("welcome") == [["hello", state["id"]]]

    values = ["héllo ✓", 7, {"a": [1, None, False]}]
    assert page.call("emitWithAck", "echo", *values) == values[0]
    assert page.call("ack", "echo", *values) == values
    assert page.call("emitWithAck", "which_transport") == page.transport()

    # Ack from the client: the server's sio.call("question", "life") gets the page's answer.
    page.call("answer", "question", [42, "and more"])
    page.call("emit", "ask_client")
    page.wait("harness.received('answer').length + harness.received('answer_failed').length >= 1", "the server's answer event")
    assert page.received("answer_failed") == []
    assert page.received("question") == [["life"]]
    assert page.received("answer") == [[42, "and more"]]

    # Binary: the server sees bytes, acks them back, and emits them reversed.
    reply = page.call("ack", "echo_bytes", {"data": {"$uint8array": ALL_BYTES}, "label": "all bytes"})
    assert reply == [{"data": {"$arraybuffer": ALL_BYTES}, "label": "all bytes"}]
    page.wait("harness.received('bytes_event').length === 1", "the bytes event")
    assert page.received("bytes_event") == [[{"reversed": {"$arraybuffer": ALL_BYTES[::-1]}}]]
    observed = peer.seen("echo_bytes")
    assert observed and observed[0]["types"] == [{"data": "bytes", "label": "str"}]
    assert observed[0]["args"][0]["data"] == {"bytes": ALL_BYTES}

    assert_on_transport(page, transports_name)
    assert page.state()["pageErrors"] == []


def test_a_namespace_with_auth_on_python_socketio(peer_factory, browser, client):
    peer = peer_factory()
    admitted = browser(harness_url(peer.origin, client, nsp="/admin", auth=json.dumps({"token": "secret"})))
    admitted.wait("harness.state().connected", "the page with the token joins /admin")
    assert admitted.call("ack", "echo", "admin", 1) == ["admin", 1]
    connects = peer.seen("connect")
    assert [c["nsp"] for c in connects] == ["/admin"] and connects[0]["auth"] == {"token": "secret"}

    refused = browser(harness_url(peer.origin, client, nsp="/admin", auth=json.dumps({"token": "wrong"}),
                                  reconnection="false"))
    refused.wait("harness.state().connectErrors.length >= 1", "the page without the token is refused")
    state = refused.state()
    assert state["connectErrors"][0]["message"] == "not authorized" and state["connected"] is False


def test_reconnects_after_python_socketio_is_restarted_on_its_port(peer_factory, browser, client):
    peer = peer_factory()
    page = browser(harness_url(peer.origin, client, listen="welcome", reconnectionDelay=100, reconnectionDelayMax=400))
    page.wait("harness.state().connected && harness.received('welcome').length === 1", "the page connects")
    first = page.state()["connects"][0]["id"]

    assert peer.stop(signal.SIGKILL) == -signal.SIGKILL
    page.wait("harness.state().disconnects.length >= 1", "the page sees the connection go")
    restarted = peer_factory(port=peer.port)
    page.wait("harness.state().reconnects.length >= 1 && harness.state().connected", "the page reconnects")
    page.wait("harness.received('welcome').length === 2", "the second welcome")
    state = page.state()
    assert state["connects"][-1]["id"] != first and state["connects"][-1]["recovered"] is False
    assert page.call("ack", "echo", "after the restart") == ["after the restart"]
    assert [c["sid"] for c in restarted.seen("connect")] == [state["connects"][-1]["id"]]


# ---- c) a proxy that stalls WebSockets --------------------------------------------------------


def test_a_stalled_websocket_falls_back_to_polling(bench_server_factory, harness_site, browser, client, request):
    if client == "socketio":
        # Not a skip: the test runs, and must fail, for the reference client. With no error on
        # the WebSocket, 4.8.1 never tries polling (tryAllTransports only acts on errors); it
        # waits for its 20 s connect timeout and then tries the WebSocket again.
        request.applymarker(pytest.mark.xfail(strict=True, reason="the official client does not leave a stalled WebSocket"))
    server = bench_server_factory("swift", "--no-recovery", "--static-dir", harness_site)
    proxy = BrowserProxy(server.port, stall_websocket=True)
    try:
        page = browser(harness_url(f"http://127.0.0.1:{proxy.port}", client, transports="websocket,polling"))
        began = time.monotonic()
        result = page.try_call("waitFor", "harness.state().connected", int(STALL_BOUND * 1000))
        elapsed = time.monotonic() - began
        state = page.state()
        in_page = state["connects"][0]["at"] - state["createdAt"] if state["connects"] else None
        print(f"\n[{client}] stalling proxy: {len(proxy.stalled_upgrades)} WebSocket upgrade(s) stalled; "
              + (f"connected over {state['connects'][0]['transport']} {in_page / 1000:.2f} s after io() "
                 f"({elapsed:.2f} s of waiting in the test)" if in_page is not None
                 else f"not connected after {elapsed:.1f} s; connect errors {state['connectErrors']}"))
        page.photograph()  # while the proxy is there
        assert "error" not in result, f"not connected within {STALL_BOUND:.0f} s behind the stalling proxy\n{page.describe()}"
        assert proxy.stalled_upgrades, "the page never tried the WebSocket (the proxy stalled nothing)"
        assert state["connects"][0]["transport"] == "polling"
        assert page.call("emitWithAck", "echo", "over polling") == "over polling"
        assert page.transport() == "polling"

        # Remembered for the session: a reconnection, and the page loaded again in the same tab,
        # open on polling at once and try no WebSocket (the probe stalled too).
        stalled = len(proxy.stalled_upgrades)
        proxy.cut_all()
        page.wait("harness.state().connects.length >= 2", "the page reconnects after a cut")
        state = page.state()
        reconnected = state["connects"][1]
        reconnect_ms = reconnected["at"] - state["disconnects"][0]["at"]
        assert reconnected["transport"] == "polling"
        # The backoff's first delay is below 1 s; a WebSocket tried first would add its 5 s.
        assert reconnect_ms < 4000, f"the reconnection took {reconnect_ms} ms: it waited for a stalled WebSocket"
        page.driver.get(page.url)
        WebDriverWait(page.driver, TIMEOUT, poll_frequency=0.05).until(lambda d: d.execute_script("return !!window.harness;"))
        page.wait("harness.state().connected", "the reloaded page connects")
        state = page.state()
        assert state["connects"][0]["transport"] == "polling"
        assert state["connects"][0]["at"] - state["createdAt"] < 2000, "the reloaded page waited for a stalled WebSocket"
        assert len(proxy.stalled_upgrades) == stalled, "a WebSocket was tried again in the same session"
        print(f"[{client}] after a cut: reconnected over polling in {reconnect_ms / 1000:.2f} s; the reloaded page "
              f"connected over polling {(state['connects'][0]['at'] - state['createdAt']) / 1000:.2f} s after io()")
    finally:
        proxy.stop()
