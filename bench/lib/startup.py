#!/usr/bin/env python3
"""Time from exec to the first successful HTTPS 200, and the resident memory right after it.

Also records when the port first accepted a TCP connection (listening_ms), which splits start-up into
"process start until the listener is open" and "the first request (TLS handshake, routing, upstream
connection)", and the CPU time the process used until its first 200 (cpu_ms), which is far less
sensitive to a busy machine than the wall-clock figures.

Starts the command (pinned with taskset) several times, polls the URL over TLS in a tight loop
(a failed connect is retried after 2 ms), records the elapsed time of the first 200, waits two
seconds, reads VmRSS of the process and its children, then stops it with SIGTERM (by PID).
Prints one JSON line per start.
"""
import argparse
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse


def first_200(url: str, deadline: float, timeline: dict) -> bool:
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=2) as raw:
                timeline.setdefault("listening", time.monotonic())
                with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                    tls.sendall(request)
                    head = tls.recv(64)
                    if head.startswith(b"HTTP/1.1 200"):
                        return True
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.002)
    return False


def family(pid: int) -> list:
    """The process and its children (nginx's workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return sorted(set(pids))


def cpu_ms(pid: int) -> float:
    """utime + stime of the process and its children so far (threads included), in milliseconds."""
    total = 0
    for p in family(pid):
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total * 1000 / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    pids = family(pid)
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu", default="1")
    parser.add_argument("--name", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--env", default="", help="space-separated VAR=value pairs")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    env = dict(os.environ)
    for pair in args.env.split():
        key, _, value = pair.partition("=")
        env[key] = value

    for run in range(args.runs):
        started = time.monotonic()
        process = subprocess.Popen(["taskset", "-c", args.cpu] + command, cwd=args.cwd, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            timeline = {}
            ok = first_200(args.url, started + 30, timeline)
            elapsed_ms = (time.monotonic() - started) * 1000
            listening_ms = (timeline.get("listening", started) - started) * 1000
            cpu_to_200_ms = cpu_ms(process.pid)
            time.sleep(2)
            memory = rss_kb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                _, err = process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
        if not ok:
            sys.stderr.write(f"{args.name} did not answer 200 within 30 s:\n{err.decode(errors='replace')}\n")
            return 1
        print(json.dumps({"server": args.name, "run": run + 1, "first_200_ms": round(elapsed_ms, 1), "listening_ms": round(listening_ms, 1), "cpu_ms": cpu_to_200_ms, "rss_kb": memory}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
