#!/usr/bin/env python3
"""Churn and abuse against a running EngineEcho, with the server's memory and sockets watched.

Each scenario is what a careless client or a hostile network does; the script reports the
server's RSS (from /proc) and what happened to the connections. Standard library only.

    swift build -c release --product EngineEcho
    python3 Samples/EngineEcho/abuse.py                 # starts .build/release/EngineEcho itself
    python3 Samples/EngineEcho/abuse.py --quick         # smaller counts, a minute in all

Scenarios (loopback only, every loop bounded):
  churn       N WebSocket sessions, each closed by the client with a close frame
  pings       one client sends ping frames without reading, answering the heartbeat blindly
  stuck       a client echoes 15 MB, then stops reading and answering: is the TCP connection
              still open 15 s later?
  headers     polling handshakes with a 60 KB header each on one keep-alive connection,
              left to expire by the heartbeat (refused with 431 by a server that bounds
              request headers, as EngineEcho does by default)
  half        requests announcing a body that never comes, and half a request head: are they
              still open after the idle timeout?
"""

import argparse
import base64
import os
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def established_to(port):
    """Server-side sockets on `port` in state ESTABLISHED (from /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    local_port = int(fields[1].split(":")[1], 16)
                    if local_port == port and fields[3] == "01":
                        count += 1
        except FileNotFoundError:
            pass
    return count


class Server:
    def __init__(self, binary, ping_interval, ping_timeout, idle_timeout):
        self.process = subprocess.Popen(
            [binary, "--port", "0", "--log-level", "error",
             "--ping-interval", str(ping_interval), "--ping-timeout", str(ping_timeout),
             "--idle-timeout", str(idle_timeout)],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"EngineEcho did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def connect(port, timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until(sock, marker, limit=1 << 20):
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
        if len(data) > limit:
            raise RuntimeError("no marker")
    return data


def frame(opcode, payload=b""):
    """A masked client frame (all-zero mask: the payload travels as is)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + b"\0\0\0\0" + payload


def websocket(port, receive_buffer=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = read_until(sock, b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head[:80])
    return sock, head.split(b"\r\n\r\n", 1)[1]


def churn(server, count):
    before = rss_kib(server.pid)
    started = time.monotonic()
    samples = []
    for index in range(count):
        sock, _ = websocket(server.port)
        sock.sendall(frame(0x8, struct.pack("!H", 1000)))
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass
        sock.close()
        if (index + 1) % max(1, count // 5) == 0:
            samples.append((index + 1, rss_kib(server.pid)))
    time.sleep(2)
    after = rss_kib(server.pid)
    print(f"churn: {count} WebSocket sessions closed with a close frame in {time.monotonic() - started:.1f} s; "
          f"RSS {before} -> {after} KiB ({(after - before) * 1024 / count:+.0f} B per session); "
          f"samples {samples}; established now {established_to(server.port)}")


def pings(server, count):
    sock, _ = websocket(server.port, receive_buffer=65536)
    before = rss_kib(server.pid)
    # A pong packet ("3") with every batch: the heartbeat answered blindly, never read.
    batch = frame(0x9, b"a" * 125) * 500 + frame(0x1, b"3")
    sent = 0
    started = time.monotonic()
    while sent < count:
        sock.sendall(batch)
        sent += 500
    time.sleep(2)
    after = rss_kib(server.pid)
    print(f"pings: {sent} pings of 125 bytes from a client that never reads, in {time.monotonic() - started:.1f} s; "
          f"RSS {before} -> {after} KiB ({after - before:+d} KiB)")
    sock.close()


def stuck(server):
    sock, rest = websocket(server.port, receive_buffer=65536)
    chunk = b"4" + b"x" * 499_999
    sent = 0
    try:
        for _ in range(30):
            sock.sendall(frame(0x1, chunk))
            sent += len(chunk)
    except OSError as error:
        print(f"stuck: the server ended the connection after {sent} bytes: {error}")
    print(f"stuck: {sent / 1e6:.1f} MB sent to be echoed; the client reads nothing and answers nothing")
    for second in (5, 10, 15):
        time.sleep(5)
        print(f"  after {second} s: server-side ESTABLISHED connections on the port: {established_to(server.port)}")
    sock.close()


def headers(server, count, ping_total_s):
    sock = connect(server.port)
    before = rss_kib(server.pid)
    padding = "p" * 60_000
    for _ in range(count):
        sock.sendall((f"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n").encode())
        head = read_until(sock, b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            # A server that bounds request headers (431) closes the connection here.
            status = head.split(b"\r\n", 1)[0].decode()
            print(f"headers: refused with {status}; RSS {before} -> {rss_kib(server.pid)} KiB")
            sock.close()
            return
        length = int([line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0].split(b":")[1])
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += sock.recv(65536)
    peak = rss_kib(server.pid)
    time.sleep(ping_total_s + 3)
    after = rss_kib(server.pid)
    print(f"headers: {count} polling handshakes with a 60 KB header on one keep-alive connection; "
          f"RSS {before} -> {peak} KiB at the end -> {after} KiB once every session expired "
          f"(connection still open: {established_to(server.port) >= 1})")
    sock.close()


def half(server, idle_s):
    sockets = []
    for _ in range(3):
        sock = connect(server.port)
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        sockets.append(sock)
    partial = connect(server.port)
    partial.sendall(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
    sockets.append(partial)
    time.sleep(idle_s + 10)
    still_open = 0
    for sock in sockets:
        sock.settimeout(0.5)
        try:
            if sock.recv(1) != b"":
                still_open += 1  # an answer, but still open
        except socket.timeout:
            still_open += 1
        except OSError:
            pass  # reset: closed
        sock.close()
    print(f"half: 3 requests without their body and 1 half head; open after {idle_s + 10} s (idle timeout {idle_s} s): {still_open} of 4")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/EngineEcho"))
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    quick = args.quick
    server = Server(args.binary, ping_interval=300, ping_timeout=200, idle_timeout=5_000 if quick else 30_000)
    try:
        print(f"EngineEcho pid {server.pid}, port {server.port}, RSS at start {rss_kib(server.pid)} KiB")
        churn(server, 2_000 if quick else 20_000)
        pings(server, 200_000 if quick else 2_000_000)
        stuck(server)
        headers(server, 100 if quick else 1_000, 0.5)
        half(server, 5 if quick else 30)
        print(f"RSS at the end {rss_kib(server.pid)} KiB")
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
