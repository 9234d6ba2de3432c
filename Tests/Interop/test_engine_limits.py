"""EngineEcho out of file descriptors: it stops accepting for a moment instead of spinning on
`accept`, keeps serving, and accepts again once descriptors are free."""

import os
import socket
import time
from urllib.parse import urlparse

import requests

from conftest import ServerFactory, sample_binary

T = 5.0  # every wait is bounded
FD_LIMIT = 64


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting_and_recovers(tmp_path):
    command = ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", str(sample_binary("EngineEcho"))]
    factory = ServerFactory(tmp_path, "EngineEcho", command=command)
    server = factory.start()
    clients = []
    try:
        address = urlparse(server.url)
        # More connections than the server has descriptors: the kernel completes them into the
        # listen backlog, and the server's accept fails with EMFILE.
        for _ in range(2 * FD_LIMIT):
            clients.append(socket.create_connection((address.hostname, address.port), timeout=T))
        time.sleep(0.5)
        before = cpu_seconds(server.pid)
        time.sleep(2.0)
        spent = cpu_seconds(server.pid) - before
        assert spent < 0.5, f"the server used {spent:.2f} s of CPU in 2 s while out of descriptors"
        assert server.alive()

        for client in clients:
            client.close()
        clients.clear()
        handshake = f"{server.url}?EIO=4&transport=polling"
        deadline = time.monotonic() + 3 * T
        answered = None
        while time.monotonic() < deadline:
            try:
                answered = requests.get(handshake, timeout=T)
                if answered.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        assert answered is not None and answered.status_code == 200 and answered.text.startswith("0{")
        assert "cannot accept connections; pausing" in server.stderr_tail()
    finally:
        for client in clients:
            client.close()
        factory.stop_all()
