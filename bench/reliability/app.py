#!/usr/bin/env python3
"""A raw HTTP/1.1 app for the reliability suite: records every request head it receives, exactly as sent.

    app.py PORT

Routes:
  /stats            JSON: heads received (of them, heads of requests with a body), bodies completed, bodies cut off,
                    and the last heads (raw, latin-1)
  /reset            zero the counters
  /hdr/utf8         a Content-Disposition with a UTF-8 file name (café.txt)
  /hdr/latin1       the same file name in Latin-1 bytes
  /hdr/etag         an ETag holding obs-text bytes (0x80, 0xFF)
  /slow?ms=N        answers after N milliseconds
  /probe...         the normal client's requests: counted apart from the others
  anything else     200 "ok"
Bodies are read by Content-Length or chunked framing, so a body the proxy never completes counts as cut off.
"""
import asyncio
import json
import sys
from urllib.parse import urlsplit, parse_qs

STATS = {"heads": 0, "body_heads": 0, "complete": 0, "aborted": 0, "inflight_peak": 0, "probes": 0, "host_headers_max": 0,
         "underscore_headers": 0}
INFLIGHT = [0]
LAST = []
SPECIAL = {
    "/hdr/utf8": [b"Content-Disposition: attachment; filename=\"caf\xc3\xa9.txt\""],
    "/hdr/latin1": [b"Content-Disposition: attachment; filename=\"caf\xe9.txt\""],
    "/hdr/etag": [b"ETag: \"\x80v1\xff\"", b"Cache-Control: public, max-age=60"],
}


async def read_body(reader, headers):
    te = headers.get(b"transfer-encoding", b"").lower()
    if b"chunked" in te:
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            await reader.readexactly(size + 2)
    length = int(headers.get(b"content-length", b"0") or b"0")
    if length:
        await reader.readexactly(length)


async def respond(writer, status, body, extra=()):
    head = [b"HTTP/1.1 %d X" % status, b"Content-Length: %d" % len(body), b"Content-Type: text/plain"]
    head.extend(extra)
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()


async def handle(reader, writer):
    try:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = raw.split(b"\r\n")
            method, target, _ = (lines[0].split(b" ", 2) + [b"", b""])[:3]
            headers = {}
            hosts = 0
            for line in lines[1:]:
                if b":" not in line:
                    continue
                name, value = line.split(b":", 1)
                lname = name.strip().lower()
                headers[lname] = value.strip()
                hosts += lname == b"host"
                STATS["underscore_headers"] += b"_" in lname
            if target.startswith((b"/stats", b"/reset")):
                pass
            elif target.startswith(b"/probe"):
                STATS["probes"] += 1
            else:
                STATS["heads"] += 1
                if b"chunked" in headers.get(b"transfer-encoding", b"").lower() or headers.get(b"content-length", b"0") not in (b"", b"0"):
                    STATS["body_heads"] += 1
            INFLIGHT[0] += 1
            STATS["inflight_peak"] = max(STATS["inflight_peak"], INFLIGHT[0])
            STATS["host_headers_max"] = max(STATS["host_headers_max"], hosts)
            LAST.append(raw.decode("latin-1"))
            del LAST[:-20]
            try:
                await read_body(reader, headers)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                STATS["aborted"] += 1
                INFLIGHT[0] -= 1
                return
            STATS["complete"] += 1
            try:
                await route(writer, target)
            finally:
                INFLIGHT[0] -= 1
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def route(writer, target):
    url = urlsplit(target.decode("latin-1"))
    if url.path == "/stats":
        await respond(writer, 200, json.dumps(dict(STATS, last=LAST)).encode(), [b"Cache-Control: no-store"])
    elif url.path == "/reset":
        for key in STATS:
            STATS[key] = 0
        LAST.clear()
        await respond(writer, 200, b"reset\n", [b"Cache-Control: no-store"])
    elif url.path in SPECIAL:
        await respond(writer, 200, b"ok\n", SPECIAL[url.path])
    elif url.path == "/slow":
        await asyncio.sleep(int(parse_qs(url.query).get("ms", ["100"])[0]) / 1000)
        await respond(writer, 200, b"ok\n")
    else:
        await respond(writer, 200, b"ok\n")


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 20, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
