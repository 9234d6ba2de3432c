"""Connection state recovery with the official Socket.IO browser client (socket.io.min.js
4.8.1 in headless Chromium) against the BenchServer sample with recovery on an SQLite file.

The page connects through a TCP proxy the test controls. A python-socketio client, connected
to the server directly, publishes numbered messages to the page's room (`publish`, acknowledged
once the message is committed to the recovery log). The page's connection is cut, messages are
published meanwhile, and the page must come back with `socket.recovered === true`, the same
`socket.id`, and every message once, in order — also after the server process was killed with
SIGKILL and started again on the same SQLite file.
"""

import signal
import socket
import threading
import time

import pytest
import socketio

from test_chat_browser import open_page, static_site, wait_for  # noqa: F401 - fixtures

TIMEOUT = 20.0


class CuttingProxy:
    """A TCP relay on 127.0.0.1 that can cut every connection, refuse new ones, and point at
    another upstream port."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.refusing = False
        # When set: the next server-to-client chunk containing these bytes is dropped and its
        # connection closed on both sides (a proxy that loses a response).
        self.drop_marker = None
        self.dropped = 0
        self.lock = threading.Lock()
        self.sockets = set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source, target, from_server):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                marker = self.drop_marker
                if from_server and marker is not None and marker in data:
                    self.drop_marker = None
                    self.dropped += 1
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                self._close(s)

    def _close(self, s):
        with self.lock:
            self.sockets.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut_all(self):
        with self.lock:
            victims = list(self.sockets)
        for s in victims:
            self._close(s)

    def stop(self):
        self.running = False
        self.listener.close()
        self.cut_all()


# The page: connects with `transports`, joins `room` once, records every `msg` and connect.
PAGE_SCRIPT = """
const [url, transports, room] = arguments;
window.log = { received: [], connects: [], joined: false };
const socket = io(url, { transports, reconnectionDelay: 100, reconnectionDelayMax: 400 });
window.socket = socket;
socket.on('msg', (n) => window.log.received.push(n));
socket.on('connect', () => {
  window.log.connects.push({ id: socket.id, recovered: socket.recovered });
  if (!window.log.joined) socket.emit('join', room, () => { window.log.joined = true; });
});
"""


def publisher(url):
    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client


def publish(client, room, numbers):
    for n in numbers:
        assert client.call("publish", (room, n), timeout=10) is True


def received(page):
    return page.execute_script("return window.log.received;")


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]],
                         ids=["polling", "websocket", "upgrade"])
def test_the_official_client_recovers_after_a_cut_and_after_a_sigkill(
        bench_server_factory, static_site, open_page, tmp_path, transports):  # noqa: F811
    store = tmp_path / "recovery.sqlite"
    flags = ("--cors-origin", static_site, "--recovery-store", store)
    server = bench_server_factory("swift", *flags)
    proxy = CuttingProxy(int(server.url.rsplit(":", 1)[1].split("/")[0]))
    try:
        page = open_page(f"{static_site}/index.html")
        page.execute_script(PAGE_SCRIPT, f"http://127.0.0.1:{proxy.port}", transports, "r")
        wait_for(page, "window.log.joined", "the page joined its room", TIMEOUT)
        first = page.execute_script("return window.log.connects[0];")
        assert first["recovered"] is False

        pub = publisher(server.url)
        publish(pub, "r", [0])
        wait_for(page, "window.log.received.length === 1", "message 0", TIMEOUT)

        # 1. The network drops: every connection of the page is cut, it cannot reconnect.
        proxy.refusing = True
        proxy.cut_all()
        publish(pub, "r", range(1, 21))
        proxy.refusing = False
        wait_for(page, "window.log.connects.length === 2", "the page reconnected", TIMEOUT)
        wait_for(page, "window.log.received.length >= 21", "the missed messages", TIMEOUT)
        second = page.execute_script("return window.log.connects[1];")
        assert second == {"id": first["id"], "recovered": True}
        assert received(page) == list(range(21))

        # 2. The server is killed with SIGKILL and started again on the same file.
        pub.disconnect()
        proxy.refusing = True
        assert server.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        proxy.cut_all()
        restarted = bench_server_factory("swift", *flags)
        proxy.upstream_port = int(restarted.url.rsplit(":", 1)[1].split("/")[0])
        pub = publisher(restarted.url)
        publish(pub, "r", range(21, 41))
        proxy.refusing = False
        wait_for(page, "window.log.connects.length === 3", "the page reconnected after the restart", TIMEOUT)
        wait_for(page, "window.log.received.length >= 41", "the messages missed across the restart", TIMEOUT)
        third = page.execute_script("return window.log.connects[2];")
        assert third == {"id": first["id"], "recovered": True}
        assert received(page) == list(range(41))

        # Live messages still arrive, once.
        publish(pub, "r", [41])
        wait_for(page, "window.log.received.length >= 42", "a live message", TIMEOUT)
        time.sleep(0.2)  # not a synchronisation: room for a duplicate to show up
        assert received(page) == list(range(42))
        pub.disconnect()
    finally:
        proxy.stop()


def test_a_long_poll_answer_lost_by_a_proxy_reaches_the_page_once(
        bench_server_factory, static_site, open_page, tmp_path):  # noqa: F811
    """The proxy drops the long-poll response that carries message 1 and closes that
    connection. The reference server loses such a message silently (the browser resends the
    GET and the client never notices); the page must get it, once."""
    store = tmp_path / "recovery.sqlite"
    server = bench_server_factory("swift", "--cors-origin", static_site, "--recovery-store", store)
    proxy = CuttingProxy(int(server.url.rsplit(":", 1)[1].split("/")[0]))
    try:
        page = open_page(f"{static_site}/index.html")
        page.execute_script(PAGE_SCRIPT, f"http://127.0.0.1:{proxy.port}", ["polling"], "r")
        wait_for(page, "window.log.joined", "the page joined its room", TIMEOUT)
        pub = publisher(server.url)
        publish(pub, "r", [0])
        wait_for(page, "window.log.received.length === 1", "message 0", TIMEOUT)

        proxy.drop_marker = b'["msg",1,'
        publish(pub, "r", [1])
        wait_for(page, "window.log.received.length >= 2", "message 1 after its response was lost", TIMEOUT)
        assert proxy.dropped == 1, "the proxy never saw the response it was to drop"
        publish(pub, "r", [2])
        wait_for(page, "window.log.received.length >= 3", "message 2", TIMEOUT)
        time.sleep(0.3)  # not a synchronisation: room for a duplicate to show up
        assert received(page) == [0, 1, 2]
        connects = page.execute_script("return window.log.connects;")
        # Either the resent GET got the answer again (one connect), or the page reconnected and
        # recovered (two connects, the second recovered): never a fresh session.
        assert all(c["id"] == connects[0]["id"] for c in connects), connects
        print(f"connects: {connects}")
        pub.disconnect()
    finally:
        proxy.stop()
