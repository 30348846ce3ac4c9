#!/usr/bin/env python3
"""A normal client while an attack runs: one GET every --interval seconds, each on a new TLS connection.

    probe.py PORT SECONDS [--path /] [--interval 0.05]

Prints one JSON object: requests, failures, and latency percentiles in milliseconds (connect + TLS + response).
"""
import argparse
import json
import socket
import ssl
import time


def one(port, path, context, timeout):
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError(data[:40])
    return (time.monotonic() - started) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--path", default="/")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--timeout", type=float, default=5)
    args = parser.parse_args()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    latencies, failures = [], 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        next_at = time.monotonic() + args.interval
        try:
            latencies.append(one(args.port, args.path, context, args.timeout))
        except (OSError, ssl.SSLError):
            failures += 1
        time.sleep(max(0, next_at - time.monotonic()))
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else None

    print(json.dumps({"requests": len(latencies) + failures, "failures": failures,
                      "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(latencies[-1], 1) if latencies else None}))


if __name__ == "__main__":
    main()
