#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into OUTDIR/<Target>/, one input per file.

The seeds come from the wire strings of Protocol/vectors/*.json (valid and invalid entries), so
every fuzzer starts from the protocol's own examples; the WebSocket and HTTP seeds wrap them in
masked client frames and HTTP requests. Generated at run time, never committed.

Usage: make-corpus.py OUTDIR
"""
import base64
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(ROOT, "Protocol", "vectors")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def write(outdir, target, seeds):
    folder = os.path.join(outdir, target)
    os.makedirs(folder, exist_ok=True)
    count = 0
    for seed in seeds:
        if isinstance(seed, str):
            seed = seed.encode("utf-8")
        path = os.path.join(folder, hashlib.sha1(seed).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(seed)
            count += 1
    return count


def masked_frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    """One client frame (RFC 6455 § 5.2), masked with `mask`."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n <= 0xFFFF:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def engine_texts(engine):
    for entry in engine["valid"] + engine["invalid"]:
        frame = entry["frame"]
        if "text" in frame:
            yield frame["text"].encode("utf-8")


def socket_sequences(socket):
    """Each valid packet or invalid sequence as the fuzzer's message format: pieces joined by
    0x1E, a binary piece marked by a leading 0x00."""
    for entry in socket["valid"] + socket.get("decodeOnly", []) + socket["invalid"]:
        pieces = [entry["encoded"].encode("utf-8")]
        pieces += [b"\x00" + base64.b64decode(a) for a in entry.get("attachments", [])]
        yield b"\x1e".join(pieces)
    for entry in socket.get("invalidSequences", []):
        pieces = []
        for frame in entry["frames"]:
            if "text" in frame:
                pieces.append(frame["text"].encode("utf-8"))
            else:
                pieces.append(b"\x00" + base64.b64decode(frame["binary"]))
        yield b"\x1e".join(pieces)


def json_texts(socket):
    for entry in socket["valid"] + socket.get("decodeOnly", []):
        payload = entry["packet"].get("payload")
        if payload is not None:
            yield payload.encode("utf-8")
    for entry in socket["invalid"]:
        text = entry["encoded"]
        start = min([i for i in (text.find("["), text.find("{")) if i >= 0], default=-1)
        if start >= 0:
            yield text[start:].encode("utf-8")
    yield from [b'{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\ud83d\\ude00"]}', b"[[[[[]]]]]", b' "x" ', b"0", b"-0.0E-1", b'["\\"",{}]']


def websocket_streams(engine):
    texts = list(engine_texts(engine))
    for text in texts:
        yield masked_frame(0x1, text)
    yield masked_frame(0x2, bytes(range(256)))
    yield masked_frame(0x1, "4" + "x" * 200)
    yield masked_frame(0x2, b"\x00" * 5000)  # above the 4096-byte limit of the fuzzer
    yield masked_frame(0x1, "4he", fin=False) + masked_frame(0x9, "p") + masked_frame(0x0, "llo")
    yield masked_frame(0x2, b"ab", fin=False) + masked_frame(0x0, b"cd", fin=False) + masked_frame(0x0, b"ef")
    yield masked_frame(0x8, struct.pack(">H", 1000) + b"bye")
    yield masked_frame(0xA, "") + masked_frame(0x9, "ping") + masked_frame(0x8, "")
    yield bytes([0x81, 0x05]) + b"hello"  # unmasked: a protocol error


def http_requests(engine, polling):
    handshake = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    poll = "GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"

    def post(body, sid="{sid}", extra=""):
        body = body.encode("utf-8") if isinstance(body, str) else body
        head = (f"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n{extra}"
                f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode("utf-8") + body

    def upgrade(path="/engine.io/?EIO=4&transport=websocket", sid=None):
        query = f"&sid={sid}" if sid else ""
        return (f"GET {path}{query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode("utf-8")

    yield handshake
    yield handshake + handshake
    yield poll
    yield (poll + poll).encode("utf-8")
    for entry in polling["valid"] + polling["invalid"]:
        yield post(entry["body"])
    yield post("4hello") + poll.encode("utf-8")
    yield post("1")
    yield post("4hi", extra="Transfer-Encoding: chunked\r\n")
    yield b"POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n4hi\r\n0\r\n\r\n"
    yield upgrade() + masked_frame(0x1, "4hello") + masked_frame(0x1, "3") + masked_frame(0x8, struct.pack(">H", 1000))
    yield upgrade(sid="{sid}") + masked_frame(0x1, "2probe") + masked_frame(0x1, "5") + masked_frame(0x1, "4up")
    yield upgrade(path="/raw") + masked_frame(0x1, "hello") + masked_frame(0x2, b"\x00\x01") + masked_frame(0x9, "p")
    for text in list(engine_texts(engine))[:20]:
        yield upgrade() + masked_frame(0x1, text)
    yield "OPTIONS /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\nAccess-Control-Request-Method: POST\r\n\r\n"
    yield "GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
    yield "GET /engine.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    yield "GET /engine.io/?EIO=4&transport=flash HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\n\r\n"
    yield "DELETE /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
    yield "GET /nowhere HTTP/1.0\r\n\r\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    engine = load("engine-packets.json")
    polling = load("polling-payloads.json")
    socket = load("socket-packets.json")
    counts = {
        "FuzzEnginePacket": write(outdir, "FuzzEnginePacket", engine_texts(engine)),
        "FuzzPollingPayload": write(outdir, "FuzzPollingPayload", (e["body"] for e in polling["valid"] + polling["invalid"])),
        "FuzzSocketDecoder": write(outdir, "FuzzSocketDecoder", socket_sequences(socket)),
        "FuzzJSONScanner": write(outdir, "FuzzJSONScanner", json_texts(socket)),
        "FuzzWebSocketFrames": write(outdir, "FuzzWebSocketFrames", websocket_streams(engine)),
        "FuzzHTTPPipeline": write(outdir, "FuzzHTTPPipeline", http_requests(engine, polling)),
    }
    for target, count in counts.items():
        print(f"seeds {target}: {count} new")


if __name__ == "__main__":
    main()
