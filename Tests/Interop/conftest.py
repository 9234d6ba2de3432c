"""Shared fixtures for the interop tests: start the EngineEcho and Chat sample servers.

The server under test is ``$PARLEY_BIN/EngineEcho`` (``Tests/run.sh`` sets PARLEY_BIN to
``swift build --show-bin-path``). Its contract: it prints exactly one line to stdout,
``EngineEcho listening on http://HOST:PORT/PATH``, logs to stderr, echoes every Engine.IO
message to the session that sent it, and exits 0 on SIGTERM/SIGINT.

The Chat sample (``$PARLEY_BIN/Chat``) has the same contract with the line
``Chat listening on http://HOST:PORT/``; ``official_client_js`` provides the official
``socket.io.min.js`` its page loads.

The BenchServer sample has it too (``BenchServer listening on http://HOST:PORT/``, then a second
line ``pid N``), in two implementations: ``$PARLEY_BIN/BenchServer`` and its python-socketio
twin ``Samples/BenchServer/python/bench_server.py`` (see ``bench_server_factory``).

Every wait here is bounded; servers listen on loopback with an OS-chosen port.
"""

import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / ".build"

STARTUP_TIMEOUT = 10.0  # seconds to wait for the "listening" line
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL

LISTENING_RE = re.compile(r"^EngineEcho listening on (http://[^\s/]+:\d+/\S*)$")


def listening_re(executable):
    """The pattern of the one stdout line a sample server prints once it listens."""
    if executable == "EngineEcho":
        return LISTENING_RE
    return re.compile(rf"^{re.escape(executable)} listening on (http://[^\s/]+:\d+/\S*)$")


_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Runs in the child before exec: have the kernel SIGTERM the server if pytest dies,
    so a killed test run never leaves an EngineEcho behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux/glibc: the fixtures' own teardown still stops it
        pass


def engine_echo_binary():
    return sample_binary("EngineEcho")


def sample_binary(executable):
    """The built sample executable `executable` (EngineEcho, Chat) under $PARLEY_BIN."""
    bin_dir = os.environ.get("PARLEY_BIN")
    if not bin_dir:
        pytest.fail(
            "PARLEY_BIN is not set. Run the interop tests through `bash Tests/run.sh`, or set "
            "PARLEY_BIN=$(swift build --show-bin-path) after `swift build`.",
            pytrace=False,
        )
    path = Path(bin_dir) / executable
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{executable} executable not found at {path} (PARLEY_BIN={bin_dir!r}). "
            f"Build it first: `swift build --product {executable}`.",
            pytrace=False,
        )
    return path


class EchoServer:
    """A running EngineEcho process."""

    def __init__(self, proc, url, stderr_path, args, extra_lines=()):
        self.proc = proc
        self.extra_lines = list(extra_lines)  # stdout lines after the listening line, if asked for
        self.url = url  # e.g. http://127.0.0.1:54321/engine.io/
        self.args = args
        self.stderr_path = stderr_path
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname
        self.port = parsed.port
        self.path = parsed.path  # e.g. /engine.io/
        self.origin = f"http://{self.host}:{self.port}"  # what python-engineio's connect() takes
        self.ws_url = f"ws://{self.host}:{self.port}{self.path}"
        self.returncode = None
        self.killed = False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr_tail(self, limit=4000):
        try:
            data = Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            return ""
        return data[-limit:]

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send `sig`, wait up to `timeout` s, then SIGKILL. Returns the exit code
        (negative = killed by that signal, as in subprocess)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self.returncode = self.proc.returncode
        return self.returncode


def _read_listening_line(proc, timeout):
    """Read the first stdout line with a deadline. Returns (line or None, raw bytes)."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, buf
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if not ready:
            if proc.poll() is not None:
                return None, buf
            continue
        chunk = os.read(fd, 4096)
        if not chunk:  # EOF: the process closed stdout (probably exited)
            return None, buf
        buf += chunk
    line, _, _rest = buf.partition(b"\n")
    return line.decode("utf-8", errors="replace").rstrip("\r"), buf


def _read_more_lines(proc, buf, count, timeout):
    """The `count` stdout lines after the first one in `buf` (read with a deadline if they are
    not all there yet); None if they do not come in time."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < count + 1:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if not ready:
            if proc.poll() is not None:
                return None
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
    lines = buf.split(b"\n")[1 : count + 1]
    return [line.decode("utf-8", errors="replace").rstrip("\r") for line in lines]


def _drain(stream):
    try:
        while stream.read(4096):
            pass
    except (OSError, ValueError):
        pass


class ServerFactory:
    """Starts sample server processes (EngineEcho unless told otherwise) and stops every one
    it started."""

    def __init__(self, tmp_dir, executable="EngineEcho", command=None, extra_lines=0):
        self.tmp_dir = Path(tmp_dir)
        self.executable = executable
        # The program and its first arguments when it is not $PARLEY_BIN/<executable> (e.g. a
        # python script); `executable` still names the listening line.
        self.command = command
        self.extra_lines = extra_lines  # stdout lines to read after the listening line
        self.servers = []

    def start(self, *flags):
        program = [str(sample_binary(self.executable))] if self.command is None else [str(c) for c in self.command]
        listening = listening_re(self.executable)
        args = [*program, "--port", "0", *[str(f) for f in flags]]
        stem = "engine-echo" if self.executable == "EngineEcho" else self.executable.lower()
        stderr_path = self.tmp_dir / f"{stem}-{len(self.servers)}.stderr.log"
        # Each server runs in a folder of its own: what it writes next to itself (e.g. the
        # samples' default recovery store, data/*.sqlite) is never shared with another server.
        workdir = self.tmp_dir / f"{stem}-{len(self.servers)}"
        workdir.mkdir(parents=True, exist_ok=True)
        stderr_file = open(stderr_path, "wb")
        try:
            proc = subprocess.Popen(
                args,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
                preexec_fn=_die_with_parent,
                bufsize=0,
            )
        finally:
            stderr_file.close()
        line, raw = _read_listening_line(proc, STARTUP_TIMEOUT)
        match = listening.match(line) if line is not None else None
        if match is None:
            exited = proc.poll()
            if exited is None:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            stderr = stderr_path.read_text(errors="replace")[-4000:]
            pytest.fail(
                f"{self.executable} did not announce itself within {STARTUP_TIMEOUT:.0f} s.\n"
                f"command: {' '.join(args)}\n"
                f"exit code: {exited}\n"
                f"stdout so far: {raw!r}\n"
                f"expected one line matching: {listening.pattern}\n"
                f"stderr (tail):\n{stderr}",
                pytrace=False,
            )
        extra = []
        if self.extra_lines:
            extra = _read_more_lines(proc, raw, self.extra_lines, STARTUP_TIMEOUT)
            if extra is None:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
                pytest.fail(
                    f"{self.executable} printed its listening line but not the {self.extra_lines} "
                    f"line(s) after it within {STARTUP_TIMEOUT:.0f} s.\ncommand: {' '.join(args)}",
                    pytrace=False,
                )
        # Nothing else is expected on stdout, but never let a full pipe block the server.
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        server = EchoServer(proc, match.group(1), stderr_path, args, extra)
        self.servers.append(server)
        return server

    def stop_all(self):
        """Stop every server still running; return the ones that did not exit 0 on SIGTERM."""
        bad = []
        for server in self.servers:
            if server.returncode is not None:
                continue  # a test stopped it and checked the outcome itself
            crashed_before = server.proc.poll()
            rc = server.stop()
            if crashed_before is not None:
                bad.append((server, f"had already exited with {crashed_before} before teardown"))
            elif server.killed:
                # Reported as a warning only: test_signal_stops_server_with_exit_code_0 is the
                # test that fails for a slow shutdown, so one defect fails one test, not all.
                warnings.warn(
                    f"{Path(server.args[0]).name} {' '.join(server.args[1:])} did not exit within "
                    f"{STOP_TIMEOUT:.0f} s of SIGTERM at teardown (killed)"
                )
            elif rc != 0:
                bad.append((server, f"exited with {rc} after SIGTERM"))
        return bad


def _report(bad):
    if bad:
        lines = [
            f"{Path(s.args[0]).name} {' '.join(s.args[1:])}: {why}\nstderr (tail):\n{s.stderr_tail()}"
            for s, why in bad
        ]
        pytest.fail("\n\n".join(lines), pytrace=False)


@pytest.fixture
def engine_echo_factory(tmp_path):
    """Factory: `engine_echo_factory('--ping-interval', 300, ...)` starts an EngineEcho with
    `--port 0` plus those flags and returns an EchoServer. Teardown SIGTERMs every server the
    test left running (SIGKILL after 5 s) and fails if one crashed or exited non-zero."""
    factory = ServerFactory(tmp_path)
    yield factory.start
    _report(factory.stop_all())


@pytest.fixture
def engine_echo(engine_echo_factory):
    """One EngineEcho with default settings."""
    return engine_echo_factory()


@pytest.fixture(scope="module")
def module_engine_echo_factory(tmp_path_factory):
    """Like engine_echo_factory, but the servers live for the whole test module."""
    factory = ServerFactory(tmp_path_factory.mktemp("engine-echo"))
    yield factory.start
    _report(factory.stop_all())


@pytest.fixture
def chat_server_factory(tmp_path):
    """Factory: `chat_server_factory('--client-js', path)` starts the Chat sample with
    `--port 0` plus those flags; teardown as for engine_echo_factory."""
    factory = ServerFactory(tmp_path, executable="Chat")
    yield factory.start
    _report(factory.stop_all())


# --- BenchServer: the server side of `parley bench`, in Swift and in python-socketio ------

PYTHON_BENCH_SERVER = REPO_ROOT / "Samples" / "BenchServer" / "python" / "bench_server.py"
BENCH_SERVER_KINDS = ("swift", "python")


def _bench_server_factories(tmp_dir):
    """One ServerFactory per BenchServer implementation, each reading the `pid N` line."""
    tmp_dir = Path(tmp_dir)
    factories = {}
    for kind in BENCH_SERVER_KINDS:
        folder = tmp_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        # The venv's interpreter (the one running pytest) has python-socketio and aiohttp.
        command = None if kind == "swift" else [sys.executable, "-u", PYTHON_BENCH_SERVER]
        factories[kind] = ServerFactory(folder, executable="BenchServer", command=command, extra_lines=1)
    return factories


def _bench_server_fixture(factories):
    def start(kind, *flags):
        """Starts the `kind` ("swift" or "python") BenchServer with `--port 0` plus `flags`."""
        return factories[kind].start(*flags)

    yield start
    _report([bad for factory in factories.values() for bad in factory.stop_all()])


@pytest.fixture
def bench_server_factory(tmp_path):
    """Factory: `bench_server_factory("swift")` starts $PARLEY_BIN/BenchServer,
    `bench_server_factory("python")` the python-socketio twin, each with `--port 0` plus the
    flags given; the returned server's `extra_lines` holds the `pid N` line. Teardown as for
    engine_echo_factory."""
    yield from _bench_server_fixture(_bench_server_factories(tmp_path))


@pytest.fixture(scope="module")
def module_bench_server_factory(tmp_path_factory):
    """Like bench_server_factory, but the servers live for the whole test module."""
    yield from _bench_server_fixture(_bench_server_factories(tmp_path_factory.mktemp("bench-server")))

# --- The official Socket.IO browser client -------------------------------------------------

CLIENT_JS_WHEEL = "nicegui==3.18.0"  # ships the official socket.io.min.js 4.8.1
CLIENT_JS_MEMBER = "nicegui/static/socket.io.min.js"
CLIENT_JS_BANNER = b"Socket.IO v4.8.1"
CLIENT_JS_CACHE = BUILD_DIR / "client-js" / "socket.io.min.js"  # never committed
PIP_TIMEOUT = 300.0


def _is_official_client(path):
    try:
        with open(path, "rb") as file:
            return CLIENT_JS_BANNER in file.read(200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def official_client_js():
    """Path of the official socket.io.min.js, extracted from the PyPI wheel of nicegui
    (`pip download --no-deps`) once and cached under .build/client-js/."""
    if _is_official_client(CLIENT_JS_CACHE):
        return CLIENT_JS_CACHE
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--no-input", "-q", CLIENT_JS_WHEEL, "-d", tmp,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(command)}` took more than {PIP_TIMEOUT:.0f} s", pytrace=False)
        wheels = list(Path(tmp).glob("nicegui-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            pytest.fail(
                f"cannot download {CLIENT_JS_WHEEL} (for the official socket.io.min.js): "
                f"exit {done.returncode}\n{done.stderr[-2000:]}",
                pytrace=False,
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            bundle = wheel.read(CLIENT_JS_MEMBER)
    if CLIENT_JS_BANNER not in bundle[:200]:
        pytest.fail(f"{CLIENT_JS_MEMBER} in {CLIENT_JS_WHEEL} is not {CLIENT_JS_BANNER.decode()}", pytrace=False)
    CLIENT_JS_CACHE.parent.mkdir(parents=True, exist_ok=True)
    partial = CLIENT_JS_CACHE.with_suffix(".partial")
    partial.write_bytes(bundle)
    partial.replace(CLIENT_JS_CACHE)  # atomic: a concurrent run never reads half a file
    return CLIENT_JS_CACHE
