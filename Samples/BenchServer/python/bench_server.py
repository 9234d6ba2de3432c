"""The BenchServer contract on python-socketio, the reference point `parley bench` measures
Parley against (see ../README.md).

    python bench_server.py --host 127.0.0.1 --port 0

Prints ``BenchServer listening on http://HOST:PORT/`` then ``pid N`` on stdout, unbuffered, and
exits promptly on SIGTERM or SIGINT. Runs on uvloop when it is importable, else on asyncio.
"""

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

import socketio
from aiohttp import web

try:
    import uvloop
except ImportError:  # the plain asyncio loop is slower, but the contract is the same
    uvloop = None

SHUTDOWN_TIMEOUT = 0.5  # seconds aiohttp waits for open connections on exit (default 60)


def make_server():
    """An AsyncServer with the three contract events on namespace /."""
    sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)

    @sio.event
    async def echo(sid, *args):
        # A tuple becomes the ack's argument list; binary arguments arrive and leave as bytes.
        return args

    @sio.event
    async def join(sid, room):
        await sio.enter_room(sid, room)
        return room

    @sio.event
    async def broadcast(sid, room, payload):
        await sio.emit("msg", payload, to=room)
        # None: an ack with no arguments, when the client asked for one.

    return sio


async def serve(host, port):
    sio = make_server()
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    # Bind the socket ourselves so that port 0 can be reported.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.setblocking(False)
    site = web.SockSite(runner, listener, shutdown_timeout=SHUTDOWN_TIMEOUT, backlog=1024)
    await site.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = listener.getsockname()[1]
    sys.stdout.write(f"BenchServer listening on http://{host}:{bound}/\npid {os.getpid()}\n")
    sys.stdout.flush()
    await stop.wait()
    await runner.cleanup()


def main():
    # A parent may have started us with these blocked; the handlers above need them delivered.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on; 0 picks a free one")
    parser.add_argument("--log-level", default="warning", help="python logging level (stderr)")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    logging.getLogger(__name__).info("event loop: %s", "uvloop" if uvloop else "asyncio")
    if uvloop is not None:
        uvloop.run(serve(args.host, args.port))
    else:
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
