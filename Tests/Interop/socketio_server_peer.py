#!/usr/bin/env python3
"""python-socketio's AsyncServer (PyPI 5.18.1 on aiohttp, an independent implementation) as
the peer of the Swift client ParleyClient.

Started by Tests/ParleyClientTests/PythonServerInteropTests.swift, one process per test:

    python socketio_server_peer.py [--exit-on-stdin-eof] [--lifetime SECONDS] [--port PORT]
                                   [--harness] [--static PATH=FILE ...]

It listens on 127.0.0.1 with an OS-chosen port (or ``--port``) and prints that port, alone, as
the first stdout line. After it, one JSON object per line, ``{"event": ..., ...}``, for what the
server saw (connects, disconnects with their reason, events); the Swift test asserts on them.
python-socketio's own log goes to stderr. It exits 0 on SIGTERM/SIGINT (aiohttp gets 0.5 s to
finish the requests in flight, e.g. a pending long-poll), when its stdin reaches end of file
with ``--exit-on-stdin-eof`` (the test process died), and after ``--lifetime`` seconds at the
latest (a backstop: a test takes a few seconds).

Pages, on the same port (Tests/Interop/test_parleyjs_browser.py drives them in Chromium):
  --harness        serves ``/harness.html`` and ``/harness.js`` (Tests/Interop/parleyjs/) and
                   ``/parley.js`` (Sources/Parley/Resources/parley.js)
  --static PATH=FILE  serves FILE at PATH (repeatable), e.g. the official socket.io.min.js;
                   it wins over ``--harness`` for the same path (another parley.js)
  Each file is read again on every request, so an edited parley.js needs no restart.

Namespace ``/``:
  connect          emits ``welcome`` to the new socket (python-socketio runs the connect
                   handler before it sends the CONNECT reply, so ``welcome`` reaches the client
                   before ``40{"sid":...}``; PROTOCOL-NOTES §4)
  echo             acks with its arguments, unchanged
  which_transport  acks with the Engine.IO transport the server sees ("polling"/"websocket")
  ask_client       ``await sio.call("question", "life", to=sid, timeout=5)``, then emits
                   ``answer`` with what the client acked (``answer_failed`` with the error)
  echo_bytes       acks with its arguments (bytes inside them come back as binary), and
                   emits ``bytes_event`` ``{"reversed": <the first argument's "data", reversed>}``
  server_disconnect  ``await sio.disconnect(sid)``: the server leaves the socket out of ``/``
Namespace ``/admin``:
  connect          accepts only ``auth == {"token": "secret"}``; otherwise raises
                   ``ConnectionRefusedError("not authorized")`` → ``44/admin,{"message":"not authorized"}``
  echo             as on ``/``
  server_disconnect  as on ``/``, for ``/admin``
"""

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

try:
    import socketio
    from aiohttp import web
    from socketio.exceptions import ConnectionRefusedError as Refused
except ImportError as missing:  # the wrong interpreter, or a venv without the requirements
    print(
        f"error: {missing} in {sys.executable}: pip install -r Tests/Interop/requirements.txt "
        "(bash Tests/run.sh does)",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(2)

SHUTDOWN_TIMEOUT = 0.5  # seconds aiohttp waits for requests in flight on shutdown (default 60)
CALL_TIMEOUT = 5  # seconds sio.call() waits for the client's ack
REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_FILES = {
    "/harness.html": REPO_ROOT / "Tests" / "Interop" / "parleyjs" / "harness.html",
    "/harness.js": REPO_ROOT / "Tests" / "Interop" / "parleyjs" / "harness.js",
    "/parley.js": REPO_ROOT / "Sources" / "Parley" / "Resources" / "parley.js",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
}


def observe(event, **fields):
    """One observation for the Swift test, as a JSON line on stdout."""
    print(json.dumps({"event": event, **fields}, ensure_ascii=False, default=jsonable), flush=True)


def jsonable(value):
    """bytes become {"bytes": [ints]} in observations (the Swift side compares them)."""
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": list(value)}
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def describe(value):
    """The Python types inside a value, e.g. {"data": "bytes", "parts": ["bytes"]}."""
    if isinstance(value, dict):
        return {key: describe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    return type(value).__name__


def make_server():
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        logger=logging.getLogger("socketio.server"),
        engineio_logger=logging.getLogger("engineio.server"),
    )

    async def echo(sid, *args):
        # A tuple result becomes the ack's argument list; () becomes an empty ack `[]`.
        return args

    def on_both(event, handler):
        sio.on(event, namespace="/")(handler)
        sio.on(event, namespace="/admin")(handler)

    # ---- / ----------------------------------------------------------------------------

    @sio.on("connect", namespace="/")
    async def connect(sid, environ, auth):
        observe("connect", nsp="/", sid=sid, auth=auth, transport=sio.transport(sid))
        await sio.emit("welcome", ("hello", sid), to=sid, namespace="/")

    @sio.on("echo", namespace="/")
    async def echo_main(sid, *args):
        observe("echo", nsp="/", args=list(args))
        return await echo(sid, *args)

    @sio.on("which_transport", namespace="/")
    async def which_transport(sid):
        return sio.transport(sid, namespace="/")

    @sio.on("ask_client", namespace="/")
    async def ask_client(sid, *args):
        try:
            answer = await sio.call("question", "life", to=sid, namespace="/", timeout=CALL_TIMEOUT)
        except Exception as error:  # socketio.exceptions.TimeoutError, a disconnect, …
            observe("answer_failed", error=repr(error))
            await sio.emit("answer_failed", repr(error), to=sid, namespace="/")
            return
        observe("answer", value=answer)
        # A tuple (an ack with several arguments) is sent as that many arguments.
        await sio.emit("answer", answer, to=sid, namespace="/")

    @sio.on("echo_bytes", namespace="/")
    async def echo_bytes(sid, *args):
        observe("echo_bytes", args=list(args), types=describe(list(args)))
        first = args[0] if args else None
        if isinstance(first, dict) and isinstance(first.get("data"), (bytes, bytearray)):
            await sio.emit("bytes_event", {"reversed": bytes(reversed(first["data"]))}, to=sid, namespace="/")
        return args

    # ---- /admin -----------------------------------------------------------------------

    @sio.on("connect", namespace="/admin")
    async def admin_connect(sid, environ, auth):
        if auth != {"token": "secret"}:
            observe("refused", nsp="/admin", auth=auth)
            raise Refused("not authorized")
        observe("connect", nsp="/admin", sid=sid, auth=auth, transport=sio.transport(sid, namespace="/admin"))

    @sio.on("echo", namespace="/admin")
    async def echo_admin(sid, *args):
        observe("echo", nsp="/admin", args=list(args))
        return await echo(sid, *args)

    # ---- both -------------------------------------------------------------------------

    def disconnect_handler(namespace):
        async def handler(sid, reason):
            observe("disconnect", nsp=namespace, sid=sid, reason=str(reason))
        return handler

    def server_disconnect_handler(namespace):
        async def handler(sid, *args):
            observe("server_disconnect", nsp=namespace, sid=sid)
            await sio.disconnect(sid, namespace=namespace)
        return handler

    for namespace in ("/", "/admin"):
        sio.on("disconnect", namespace=namespace)(disconnect_handler(namespace))
        sio.on("server_disconnect", namespace=namespace)(server_disconnect_handler(namespace))

    return sio


def static_route(path):
    """A handler serving the file at `path`, read on each request (no caching)."""
    async def handler(request):
        try:
            body = path.read_bytes()
        except OSError:
            raise web.HTTPNotFound()
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
    return handler


def static_files(arguments):
    """The {url path: file} the command line asks to serve."""
    files = dict(HARNESS_FILES) if arguments.harness else {}
    for spec in arguments.static:
        path, separator, file = spec.partition("=")
        if not separator or not path.startswith("/"):
            raise SystemExit(f"--static {spec!r}: expected /PATH=FILE")
        files[path] = Path(file)
    return files


async def main(arguments):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # A child inherits its parent's signal mask: started from a test process whose threads
    # block SIGTERM (as swift test's do), the signal would stay pending for ever.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if arguments.exit_on_stdin_eof:
        def stdin_readable():
            if not sys.stdin.buffer.raw.read(4096):  # end of file: the parent is gone
                loop.remove_reader(sys.stdin.fileno())
                stop.set()
        loop.add_reader(sys.stdin.fileno(), stdin_readable)
    loop.call_later(arguments.lifetime, stop.set)

    sio = make_server()
    app = web.Application()
    sio.attach(app)
    for path, file in static_files(arguments).items():
        app.router.add_get(path, static_route(file))
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", arguments.port)
    await site.start()
    port = runner.addresses[0][1]
    print(port, flush=True)
    logging.getLogger("peer").info("listening on http://127.0.0.1:%d/socket.io/", port)

    await stop.wait()
    logging.getLogger("peer").info("stopping")
    await sio.shutdown()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin reaches end of file")
    parser.add_argument("--lifetime", type=float, default=300.0, help="exit after this many seconds at the latest")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--harness", action="store_true", help="serve the parley.js harness page and parley.js")
    parser.add_argument("--static", action="append", default=[], metavar="PATH=FILE", help="serve FILE at PATH")
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if parser.parse_known_args()[0].quiet else logging.INFO,
        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
