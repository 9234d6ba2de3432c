"""Two ChatCLI processes (the Swift client sample) chat through the Chat server, which is then
killed with SIGKILL and started again on the same port: both clients must reconnect, enter
the room again by themselves, and carry messages as before.

One client stays on HTTP long-polling, the other on WebSocket. The clients talk through
pipes: a line written to a client's stdin is a message; each line it prints is read by a
thread into a queue, so every wait here is bounded.
"""

import queue
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import STOP_TIMEOUT, _die_with_parent, sample_binary

JOIN_TIMEOUT = 15.0  # first connection and join
RECONNECT_TIMEOUT = 30.0  # the client's backoff is 1 s doubling to 5 s, randomised by half
MESSAGE_TIMEOUT = 10.0


class ChatCLI:
    """A running ChatCLI process with its output lines in a queue."""

    def __init__(self, url, nick, transport, stderr_path, room="lobby"):
        self.nick = nick
        self.stderr_path = stderr_path
        self.args = [
            str(sample_binary("ChatCLI")), "--url", url, "--nick", nick, "--room", room,
            "--transport", transport, "--log-level", "info",
        ]
        with open(stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                self.args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                preexec_fn=_die_with_parent,
                bufsize=0,
            )
        self.lines = queue.Queue()
        self.transcript = []  # every line read so far, for failure messages
        threading.Thread(target=self._read, name=f"ChatCLI {nick} stdout", daemon=True).start()

    def _read(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.lines.put(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        self.lines.put(None)  # end of output

    def say(self, text):
        self.proc.stdin.write(text.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def expect(self, pattern, what, timeout):
        """Reads lines until one matches `pattern` (a regex); returns it. Fails after
        `timeout` seconds or when the output ends."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0)) if remaining > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                ended = "its output ended" if remaining > 0 else f"nothing matched within {timeout:.0f} s"
                pytest.fail(f"{self.nick}: expected {what} (/{pattern}/), but {ended}.\n{self.report()}", pytrace=False)
            self.transcript.append(line)
            if regex.search(line):
                return line

    def close_input(self, timeout=STOP_TIMEOUT):
        """Ends stdin (the client leaves) and returns its exit code, or None if it is still running."""
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def report(self):
        try:
            with open(self.stderr_path, "rb") as file:
                stderr = file.read()[-3000:].decode("utf-8", errors="replace")
        except OSError:
            stderr = ""
        return (f"command: {' '.join(self.args)}\nexit code: {self.proc.poll()}\n"
                f"output so far:\n  " + "\n  ".join(self.transcript) + f"\nstderr (tail):\n{stderr}")


@pytest.fixture
def chat_cli(tmp_path):
    """Factory: `chat_cli(url, nick, transport)` starts a ChatCLI; teardown stops every one
    still running (SIGTERM, then SIGKILL)."""
    clients = []

    def start(url, nick, transport):
        client = ChatCLI(url, nick, transport, tmp_path / f"chatcli-{nick}.stderr.log")
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.stop()


def joined(nick):
    return rf"^\* joined #lobby as {re.escape(nick)} \("


def message(nick, text):
    return rf"^\[\d\d:\d\d:\d\d\] {re.escape(nick)}: {re.escape(text)}$"


def test_clients_reconnect_and_rejoin_after_the_server_is_killed_and_restarted(chat_server_factory, chat_cli):
    server = chat_server_factory()
    port = server.port
    url = f"http://127.0.0.1:{port}"

    ada = chat_cli(url, "ada", "polling")
    ada.expect(r"^\* connected \(polling\)$", "a polling connection", JOIN_TIMEOUT)
    ada.expect(joined("ada"), "the join", JOIN_TIMEOUT)
    bob = chat_cli(url, "bob", "websocket")
    bob.expect(r"^\* connected \(websocket\)$", "a WebSocket connection", JOIN_TIMEOUT)
    bob.expect(r"^\* joined #lobby as bob \(2 here: ada, bob\)$", "the join, with ada in the room", JOIN_TIMEOUT)
    ada.expect(r"^\* bob joined #lobby$", "bob's arrival", MESSAGE_TIMEOUT)

    ada.say("hello before the crash")
    ada.expect(message("ada", "hello before the crash"), "the acknowledgement of its message", MESSAGE_TIMEOUT)
    bob.expect(message("ada", "hello before the crash"), "ada's message", MESSAGE_TIMEOUT)

    assert server.stop(sig=signal.SIGKILL) == -signal.SIGKILL
    for client in (ada, bob):
        client.expect(r"^\* disconnected: ", "the disconnection", MESSAGE_TIMEOUT)

    restarted = chat_server_factory("--port", port)  # the last --port wins over the factory's 0
    assert restarted.port == port, f"restarted on {restarted.url}, not on port {port}"

    for client in (ada, bob):
        client.expect(r"^\* reconnected$", "a reconnection", RECONNECT_TIMEOUT)
        client.expect(joined(client.nick), "the join after the reconnection", MESSAGE_TIMEOUT)

    bob.say("hello after the restart")
    bob.expect(message("bob", "hello after the restart"), "the acknowledgement of its message", MESSAGE_TIMEOUT)
    ada.expect(message("bob", "hello after the restart"), "bob's message after the restart", MESSAGE_TIMEOUT)
    ada.say("welcome back")
    bob.expect(message("ada", "welcome back"), "ada's message after the restart", MESSAGE_TIMEOUT)

    # End of input is a clean exit.
    for client in (ada, bob):
        code = client.close_input()
        assert code == 0, f"{client.nick} exited with {code} at end of input\n{client.report()}"
