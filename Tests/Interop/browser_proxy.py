#!/usr/bin/env python3
"""A TCP proxy for browser tests (asyncio, stdlib only), between a page and its server.

It forwards every connection to ``127.0.0.1:<upstream port>`` byte for byte, and can:

* stall WebSockets (``stall_websocket``): a connection whose first request is a WebSocket
  upgrade is answered by the proxy itself — ``101 Switching Protocols`` with the right
  ``Sec-WebSocket-Accept`` — and then nothing is forwarded in either direction (the server
  never hears of it; what the client sends is read and dropped). That is what a buffering
  proxy that does not understand WebSockets looks like to a client: the handshake succeeds,
  then silence. Plain HTTP requests (long-polling) still pass.
* cut every open connection at once (``cut_all()``) and refuse new ones while ``refusing``
  is set (a network outage); ``upstream_port`` may be changed at any time (a server restarted
  elsewhere).

Only the first request of a connection is looked at: browsers open a connection of its own for
each WebSocket, so later requests on a kept-alive HTTP connection are forwarded unread.

In a test, ``BrowserProxy(port)`` runs its own event loop in a thread and is driven from
synchronous code. By hand, for a real browser:

    python browser_proxy.py --upstream-port 3000 --stall-websocket      # prints the proxy's port
"""

import argparse
import asyncio
import base64
import hashlib
import re
import threading
import time

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HEAD_LIMIT = 64 * 1024  # bytes of request head read before giving up on a connection


def websocket_accept(key):
    """The Sec-WebSocket-Accept value answering the Sec-WebSocket-Key `key` (RFC 6455 § 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + WEBSOCKET_GUID).digest()).decode("ascii")


def header(head, name):
    """The value of header `name` (bytes, lower case) in a request head, or None."""
    match = re.search(rb"\r\n" + re.escape(name) + rb"[ \t]*:[ \t]*([^\r\n]*)", head, re.IGNORECASE)
    return match.group(1).strip() if match else None


def is_websocket_upgrade(head):
    upgrade = header(head, b"upgrade")
    return upgrade is not None and upgrade.lower() == b"websocket" and header(head, b"sec-websocket-key") is not None


class BrowserProxy:
    """The proxy, listening on 127.0.0.1:`port` (an OS-chosen port by default)."""

    def __init__(self, upstream_port, stall_websocket=False, port=0):
        self.upstream_port = upstream_port
        self.stall_websocket = stall_websocket
        self.refusing = False
        self.stalled_upgrades = []  # time.monotonic() of each WebSocket upgrade answered and stalled
        self.forwarded = 0  # connections forwarded to the server
        self._transports = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="browser-proxy", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", port, limit=HEAD_LIMIT))
        self.port = self._server.sockets[0].getsockname()[1]

    def _call(self, coroutine, timeout=5.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # ---- control, from any thread ---------------------------------------------------------

    def cut_all(self):
        """Closes every open connection on both sides (a reset, without flushing)."""
        async def cut():
            for transport in list(self._transports):
                transport.abort()
            self._transports.clear()
        self._call(cut())

    def stop(self):
        """Stops listening, cuts every connection and ends the proxy's thread."""
        if not self._loop.is_running():
            return

        async def close():
            self._server.close()
            for transport in list(self._transports):
                transport.abort()
            await self._server.wait_closed()
        try:
            self._call(close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
            self._loop.close()

    # ---- connections, on the proxy's loop --------------------------------------------------

    async def _handle(self, reader, writer):
        self._transports.add(writer.transport)
        upstream = None
        try:
            if self.refusing:
                return
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            if self.stall_websocket and is_websocket_upgrade(head):
                await self._stall(head, reader, writer)
                return
            try:
                up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return
            self._transports.add(upstream.transport)
            self.forwarded += 1
            upstream.write(head)
            await asyncio.gather(self._pump(reader, upstream), self._pump(up_reader, writer))
        finally:
            for side in (writer, upstream):
                if side is not None:
                    self._transports.discard(side.transport)
                    side.transport.abort()

    async def _stall(self, head, reader, writer):
        accept = websocket_accept(header(head, b"sec-websocket-key"))
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept.encode("ascii") + b"\r\n\r\n"
        )
        self.stalled_upgrades.append(time.monotonic())
        try:
            await writer.drain()
            while await reader.read(65536):
                pass  # what the client sends goes nowhere
        except ConnectionError:
            pass

    async def _pump(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            # One side is done: so is the connection (browsers do not half-close HTTP).
            writer.transport.abort()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-port", type=int, required=True, help="the server's port on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="the proxy's port (0: any free one)")
    parser.add_argument("--stall-websocket", action="store_true", help="answer WebSocket upgrades and forward nothing")
    arguments = parser.parse_args()
    proxy = BrowserProxy(arguments.upstream_port, stall_websocket=arguments.stall_websocket, port=arguments.port)
    print(proxy.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
