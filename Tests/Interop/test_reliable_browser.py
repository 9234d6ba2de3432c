"""Reliable delivery with the official Socket.IO browser client (socket.io.min.js 4.8.1 in
headless Chromium), driving the Chat sample's page (Protocol/reliable.md).

Alice's page picks her nickname (her user id), joins the lobby and posts there, then is
closed. Bob's page sends her direct messages. The server is killed with SIGKILL and started
again on the same SQLite files. When alice's page opens again it gets every direct message
once, in order, and acknowledges them (so a reload shows none again); joining the lobby loads
its history. The pages reach the server through a TCP relay on a fixed port, so that the
page's origin — and its localStorage, where the nickname and device id live — survive the
restart. Screenshots land in .build/chat-screenshots/.
"""

import signal
import time

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


def test_direct_messages_reach_a_closed_page_once_in_order_across_a_sigkill(
        chat_server_factory, official_client_js, open_page, tmp_path):  # noqa: F811
    flags = ("--client-js", official_client_js,
             "--recovery-store", tmp_path / "recovery.sqlite",
             "--reliable-store", tmp_path / "reliable.sqlite")
    server = chat_server_factory(*flags)
    proxy = CuttingProxy(port_of(server.url))
    base = f"http://127.0.0.1:{proxy.port}/"
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
        assert alice.save_screenshot(str(SCREENSHOTS / "alice-reliable-after-restart.png"))

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
        assert bob.save_screenshot(str(SCREENSHOTS / "bob-reliable.png"))
    finally:
        proxy.stop()
