"""Reliable delivery in headless Chromium, driving the Chat sample's page (Protocol/reliable.md)
on each of its clients: `parley.js` and the official Socket.IO client (socket.io.min.js 4.8.1).

Alice's page picks her nickname (her user id), joins the lobby and posts there, then is
closed. Bob's page sends her direct messages. The server is killed with SIGKILL and started
again on the same SQLite files. When alice's page opens again it gets every direct message
once, in order, and acknowledges them (so a reload shows none again); joining the lobby loads
its history. The pages reach the server through a TCP relay on a fixed port, so that the
page's origin — and its localStorage, where the nickname and device id live — survive the
restart. Screenshots land in .build/chat-screenshots/.

Then parley.js's durable outbox: bob's page sends direct messages while the server is down,
the page is reloaded (from a static copy on another origin, since the server is down), it shows
them queued, the server comes back, and alice gets every one of them once, in order.
"""

import functools
import http.server
import shutil
import signal
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from test_chat_browser import SCREENSHOTS, fill, open_page, texts, wait_for  # noqa: F401 - fixtures
from test_recovery_browser import CuttingProxy

TIMEOUT = 20.0


def port_of(url):
    return int(url.rsplit(":", 1)[1].split("/")[0])


def connect_as(page, nick):
    wait_for(page, "window.socket && window.socket.connected && window.chat.nick", "the page connects", TIMEOUT)
    if page.execute_script("return window.chat.nick;") != nick:
        fill(page, "nick", nick, "nick-set")
        wait_for(page, f"window.chat.nick === {nick!r} && localStorage.getItem('chat.nick') === {nick!r}",
                 f"the nickname {nick}", TIMEOUT)


def join(page, room):
    fill(page, "room", room, "join")
    wait_for(page, f"window.chat.room === {room!r} && !document.getElementById('text').disabled",
             f"joined {room}", TIMEOUT)


def send(page, text):
    fill(page, "text", text, "send")


def settled(page):
    """No message of the page is waiting for its ack, and none failed."""
    return wait_for(page, "document.querySelectorAll('.msg.pending').length === 0", "every send acknowledged", TIMEOUT) \
        and page.execute_script("return document.querySelectorAll('.msg.failed').length;") == 0


@pytest.mark.parametrize("client", ["parley.js", "socket.io"])
def test_direct_messages_reach_a_closed_page_once_in_order_across_a_sigkill(
        client, chat_server_factory, official_client_js, open_page, tmp_path):  # noqa: F811
    flags = ("--recovery-store", tmp_path / "recovery.sqlite",
             "--reliable-store", tmp_path / "reliable.sqlite")
    if client == "socket.io":
        flags += ("--client-js", official_client_js)
    server = chat_server_factory(*flags)
    proxy = CuttingProxy(port_of(server.url))
    base = f"http://127.0.0.1:{proxy.port}/" + ("?client=socketio" if client == "socket.io" else "")
    try:
        alice = open_page(base)
        connect_as(alice, "alice")
        join(alice, "lobby")
        for text in ("h1", "h2", "h3"):
            send(alice, text)
        assert settled(alice)
        # Alice's page is closed.
        alice.execute_script("window.socket.disconnect();")
        alice.get("about:blank")

        bob = open_page(base)
        connect_as(bob, "bob")
        join(bob, "lobby")
        for n in range(1, 6):
            send(bob, f"/dm alice m{n}")
        assert settled(bob)
        assert texts(bob, ".msg.dm .text") == [f"m{n}" for n in range(1, 6)]

        # The server dies without a chance to flush anything, and comes back on the same files.
        proxy.refusing = True
        assert server.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        proxy.cut_all()
        restarted = chat_server_factory(*flags)
        proxy.upstream_port = port_of(restarted.url)
        proxy.refusing = False

        # Alice comes back: every direct message, once, in order.
        alice.get(base)
        wait_for(alice, "window.socket && window.socket.connected && window.chat.nick === 'alice'", "alice reconnects", TIMEOUT)
        wait_for(alice, "window.chat.dms.length >= 5", "alice's direct messages", TIMEOUT)
        time.sleep(0.3)  # not a synchronisation: room for a duplicate to show up
        assert alice.execute_script("return window.chat.dms;") == [f"bob: m{n}" for n in range(1, 6)]

        # Joining the lobby loads what was said there before the restart.
        join(alice, "lobby")
        wait_for(alice, "document.querySelectorAll('.msg.history').length >= 3", "the lobby's history", TIMEOUT)
        assert texts(alice, ".msg.history .text") == ["h1", "h2", "h3"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert alice.save_screenshot(str(SCREENSHOTS / f"{client}-alice-reliable-after-restart.png"))

        # They were acknowledged: a reload gets none of them again, not even to drop as repeats.
        alice.execute_script("localStorage.removeItem('chat.seenDMs');")
        alice.refresh()
        wait_for(alice, "window.socket && window.socket.connected && window.chat.nick === 'alice'", "alice reloads", TIMEOUT)
        time.sleep(0.5)  # not a synchronisation: room for a redelivery to show up
        assert alice.execute_script("return window.chat.dms;") == []

        # A direct message to an online page arrives at once.
        wait_for(bob, "window.socket.connected", "bob reconnects after the restart", TIMEOUT)
        join(bob, "lobby")
        send(bob, "/dm alice live")
        wait_for(alice, "window.chat.dms.includes('bob: live')", "a live direct message", TIMEOUT)
        assert bob.save_screenshot(str(SCREENSHOTS / f"{client}-bob-reliable.png"))
    finally:
        proxy.stop()


PARLEY_JS = Path(__file__).resolve().parents[2] / "Sources" / "Parley" / "Resources" / "parley.js"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def page_site(tmp_path):
    """A static file server on another origin, for a copy of the Chat page and parley.js that
    loads while the chat server is down. Yields `(root folder, origin)`."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(PARLEY_JS, root / "parley.js")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def outbox_depth(page):
    return page.execute_async_script("window.socket.outboxDepth().then(arguments[0], (e) => arguments[0](String(e)));")


def test_the_outbox_keeps_direct_messages_sent_while_the_server_is_down_across_a_reload(
        chat_server_factory, open_page, page_site, tmp_path):  # noqa: F811
    root, site = page_site
    flags = ("--cors-origin", site,
             "--recovery-store", tmp_path / "recovery.sqlite",
             "--reliable-store", tmp_path / "reliable.sqlite")
    server = chat_server_factory(*flags)
    with urllib.request.urlopen(server.url, timeout=TIMEOUT) as response:
        (root / "index.html").write_bytes(response.read())
    proxy = CuttingProxy(port_of(server.url))
    page_url = f"{site}/index.html?server=http://127.0.0.1:{proxy.port}"
    queued = "document.querySelectorAll('.msg.dm.mine[data-key]:not([data-id])').length"
    sent = "document.querySelectorAll('.msg.dm.mine[data-id]').length"
    try:
        alice = open_page(page_url)
        connect_as(alice, "alice")
        alice.execute_script("window.socket.disconnect();")
        alice.get("about:blank")

        bob = open_page(page_url)
        connect_as(bob, "bob")
        join(bob, "lobby")

        # The server goes down; bob writes to alice anyway.
        proxy.refusing = True
        assert server.stop(sig=signal.SIGKILL) == -signal.SIGKILL
        proxy.cut_all()
        wait_for(bob, "!window.socket.connected", "bob's page notices", TIMEOUT)
        for n in range(1, 6):
            send(bob, f"/dm alice q{n}")
        wait_for(bob, f"{queued} === 5", "five direct messages queued", TIMEOUT)
        assert outbox_depth(bob) == 5

        # The page is reloaded while the server is still down: the outbox survives it.
        bob.refresh()
        wait_for(bob, f"window.chatClient === 'parley.js' && {queued} === 5", "the reloaded page shows them queued", TIMEOUT)
        assert texts(bob, ".msg.dm.mine .text") == [f"q{n}" for n in range(1, 6)]
        assert not bob.execute_script("return window.socket.connected;")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert bob.save_screenshot(str(SCREENSHOTS / "parley.js-bob-outbox-while-down.png"))

        # The server comes back: the outbox empties, each message answered.
        restarted = chat_server_factory(*flags)
        proxy.upstream_port = port_of(restarted.url)
        proxy.refusing = False
        wait_for(bob, f"window.socket.connected && {sent} === 5", "every queued message is answered", TIMEOUT)
        assert outbox_depth(bob) == 0
        assert bob.execute_script("return document.querySelectorAll('.msg.failed').length;") == 0

        # Alice gets each one once, in order.
        alice.get(page_url)
        wait_for(alice, "window.socket && window.socket.connected && window.chat.nick === 'alice'", "alice comes back", TIMEOUT)
        wait_for(alice, "window.chat.dms.length >= 5", "alice's direct messages", TIMEOUT)
        time.sleep(0.5)  # not a synchronisation: room for a duplicate to show up
        assert alice.execute_script("return window.chat.dms;") == [f"bob: q{n}" for n in range(1, 6)]

        # Another reload of bob's page sends nothing again.
        bob.refresh()
        wait_for(bob, "window.socket && window.socket.connected", "bob's page reconnects", TIMEOUT)
        assert outbox_depth(bob) == 0
        time.sleep(0.5)  # not a synchronisation: room for a resend to show up
        assert alice.execute_script("return window.chat.dms;") == [f"bob: q{n}" for n in range(1, 6)]
        assert bob.save_screenshot(str(SCREENSHOTS / "parley.js-bob-outbox-delivered.png"))
        assert alice.save_screenshot(str(SCREENSHOTS / "parley.js-alice-outbox-delivered.png"))
    finally:
        proxy.stop()


def test_two_tabs_of_one_browser_each_show_a_direct_message_and_the_room_once(
        chat_server_factory, open_page, page_site, tmp_path):  # noqa: F811
    """The tabs of one browser profile are one device (they share IndexedDB): a direct message
    is passed on by the tab that receives it first and relayed to the other; room messages are
    shown in both."""
    root, site = page_site
    server = chat_server_factory("--cors-origin", site, "--no-recovery",
                                 "--reliable-store", tmp_path / "reliable.sqlite")
    with urllib.request.urlopen(server.url, timeout=TIMEOUT) as response:
        (root / "index.html").write_bytes(response.read())
    page_url = f"{site}/index.html?server={server.url.rstrip('/')}"
    room = "tabs"

    alice = open_page(page_url)
    connect_as(alice, "alice")
    join(alice, room)
    first = alice.current_window_handle
    alice.switch_to.new_window("tab")
    alice.get(page_url)
    second = alice.current_window_handle
    wait_for(alice, "window.socket && window.socket.connected && window.chat.nick === 'alice'", "alice's second tab", TIMEOUT)
    join(alice, room)
    assert alice.execute_async_script(
        "const d = arguments[0]; indexedDB.databases().then((l) => d(l.map((x) => x.name)));") == ["parley"]

    bob = open_page(page_url)
    connect_as(bob, "bob")
    join(bob, room)
    for n in range(1, 4):
        send(bob, f"/dm alice t{n}")
    send(bob, "hello tabs")
    assert settled(bob)

    for handle in (first, second):
        alice.switch_to.window(handle)
        wait_for(alice, "window.chat.dms.length >= 3", "each tab shows the direct messages", TIMEOUT)
        wait_for(alice, "[...document.querySelectorAll('.msg:not(.mine) .text')].some(e => e.textContent === 'hello tabs')",
                 "each tab shows the room message", TIMEOUT)
    time.sleep(0.5)  # not a synchronisation: room for a duplicate to show up
    for handle in (first, second):
        alice.switch_to.window(handle)
        assert alice.execute_script("return window.chat.dms;") == [f"bob: t{n}" for n in range(1, 4)]
        assert texts(alice, ".msg:not(.mine):not(.history) .text").count("hello tabs") == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert alice.save_screenshot(str(SCREENSHOTS / "parley.js-alice-second-tab.png"))
