#!/usr/bin/env python3
"""Turns one benchmark run (bench/work/run) into a markdown table, a JSON file and a PNG chart."""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict

CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    "h1-1k": "HTTP/1.1 keep-alive, 1 KiB, proxied (cache off)",
    "h1-64k": "HTTP/1.1 keep-alive, 64 KiB, proxied (cache off)",
    "h1-1k-hit": "HTTP/1.1 keep-alive, 1 KiB, cache hit",
    "h1-64k-hit": "HTTP/1.1 keep-alive, 64 KiB, cache hit",
    "h1-json-hit": "HTTP/1.1 keep-alive, 64 KiB JSON, cache hit, no Accept-Encoding (sent as stored)",
    "h1-json-br-hit": "HTTP/1.1 keep-alive, 64 KiB JSON, cache hit, Accept-Encoding: br, gzip (sidecar: its stored Brotli; nginx: gzip level 1 on every hit)",
    "h2-1k": "HTTP/2, 1 KiB, proxied (cache off)",
    "h2-1k-hit": "HTTP/2, 1 KiB, cache hit",
    "newconn-1k": "new TLS connection per request, session resumed (wrk, Connection: close), 1 KiB, proxied",
    "newfull-1k": "new TLS connection per request, full handshake (openssl s_time -new), 1 KiB, proxied",
}

BUILD_NAME = {"aot": "Native AOT", "jit": "JIT"}

CONTENDER_NOTE = {
    "sidecar": "sidecar, default settings (access log on)",
    "sidecar-nolog": "sidecar, access log off",
    "sidecar-cache": "sidecar, cache on",
    "nginx": "nginx proxy_pass",
    "nginx-cache": "nginx proxy_cache",
}
for _build, _name in BUILD_NAME.items():
    CONTENDER_NOTE[f"floor-{_build}"] = f"floor ({_name}): Kestrel + YARP alone"
    CONTENDER_NOTE[f"floor-{_build}-cache"] = f"floor ({_name}): Kestrel + YARP + stock OutputCaching"


def load_contender_notes(run):
    """Adds the sidecar variants of this run (contenders.tsv: name, description) to CONTENDER_NOTE."""
    try:
        with open(os.path.join(run, "contenders.tsv"), encoding="utf-8") as f:
            for line in f:
                name, _, note = line.rstrip("\n").partition("\t")
                if name:
                    CONTENDER_NOTE[name] = note
    except OSError:
        pass


def baseline(contender):
    """The nginx a contender is compared with: proxy_cache for the cache contenders, proxy_pass otherwise."""
    if contender.startswith("nginx"):
        return None
    return "nginx-cache" if contender.endswith("-cache") else "nginx"


def floor_of(contender, build):
    """The floor (bench/floor) of the same build a sidecar contender is compared with."""
    if not contender.startswith("sidecar") or not build:
        return None
    return f"floor-{build}-cache" if contender.endswith("-cache") else f"floor-{build}"


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * UNIT[match.group(2)] if match else None


def parse_wrk(text):
    result = {"errors": 0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        result["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        result["requests"] = int(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M):
            result[key] = to_ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        result["errors"] += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        result["socket_errors"] = sum(int(g) for g in m.groups())
    return result


def parse_h2load(text, log_path):
    result = {"errors": 0}
    if m := re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text):
        result["rps"] = float(m.group(1))
    if m := re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text):
        result["requests"] = int(m.group(1))
        result["errors"] = int(m.group(2)) + int(m.group(3)) + int(m.group(4))
    try:
        with open(log_path, encoding="ascii") as f:
            times = sorted(int(line.split("\t")[2]) for line in f if line.count("\t") >= 2 and line.split("\t")[1] == "200")
        if times:
            result["p50"] = times[len(times) // 2] / 1000
            result["p99"] = times[min(len(times) - 1, int(len(times) * 0.99))] / 1000
    except OSError:
        pass
    return result


def parse_s_time(text, wall_ms):
    connections = sum(int(n) for n in re.findall(r"^(\d+) connections in \d+ real seconds", text, re.M))
    return {"errors": 0, "requests": connections, "rps": connections * 1000 / wall_ms if wall_ms else None}


def parse(scenario, path, wall_ms):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if scenario.startswith("newfull-"):
        return parse_s_time(text, wall_ms)
    return parse_h2load(text, path + ".log") if scenario.startswith("h2-") else parse_wrk(text)


# The log check: a contender writes at most its access-log line per request. Lines past that (framework
# logs at Information, a warning per request) cost CPU per request and would make its figures meaningless.
LOG_RATIO_LIMIT = 1.05


def parse_row(line):
    """One line of measurements.tsv -> a dict with the parsed load-generator figures and the log counts."""
    fields = line.rstrip("\n").split("\t")
    kind, scenario, contender, rnd, ticks, origin, wall_ms, path, load_cpu = fields[:9]
    lines_total, lines_detail, expected = (fields[9:12] + ["", "", ""])[:3] if len(fields) > 9 else ("", "", "")
    m = parse(scenario, path, int(wall_ms))
    requests = m.get("requests") or 0
    if not requests:
        m = {"errors": m.get("errors", 0), "socket_errors": m.get("socket_errors", 0), "empty": True}
    m.update(kind=kind, scenario=scenario, contender=contender, round=int(rnd), path=path)
    m["cpu_us_per_req"] = int(ticks) * 1e6 / CLK_TCK / requests if requests else None
    m["origin_share"] = int(origin) / requests if requests else None
    m["wall_ms"] = int(wall_ms)
    m["load_busy"] = float(load_cpu or 0) * 1000 / int(wall_ms) if int(wall_ms) else None
    if lines_total != "":
        m["log_lines"] = int(lines_total)
        m["log_files"] = [part.split(":", 2) for part in lines_detail.split(",") if part]  # [label, count, path]
        m["log_expected"] = int(expected or 0)
    return m


def log_check(m, slack):
    """None when the contender wrote no more than expected, else a one-line explanation."""
    if "log_lines" not in m:
        return None
    lines, requests, expected = m["log_lines"], m.get("requests") or 0, m["log_expected"]
    where = ", ".join(f"{count} to {label} ({path})" for label, count, path in m["log_files"] if count != "0") or "nowhere"
    label = f"{m['scenario']}, " + ("warm-up" if m["kind"] == "warmup" else f"round {m['round']}")
    if expected:
        if lines > LOG_RATIO_LIMIT * expected * requests + slack:
            per = f"{lines / requests:.2f}" if requests else "∞"
            return (f"{m['contender']} wrote {per} log lines per request ({lines:,} lines for {requests:,} requests; "
                    f"allowed: {expected} + 5 %) in {label}: {where}")
    elif lines > slack:
        return (f"{m['contender']} has no log to write but wrote {lines:,} lines ({requests:,} requests; "
                f"allowed: {slack}) in {label}: {where}")
    return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def sh(command):
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(repo):
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    os_name = sh(". /etc/os-release && echo \"$PRETTY_NAME\"")
    commit = sh(f"git -C '{repo}' rev-parse --short HEAD")
    dirty = sh(f"git -C '{repo}' status --porcelain -- src") != ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "os": os_name,
        "dotnet": sh("dotnet --version"),
        "nginx": sh("nginx -v 2>&1").replace("nginx version: ", ""),
        "wrk": sh("wrk -v 2>&1 | head -1"),
        "h2load": sh("h2load --version 2>&1 | head -1"),
        "commit": commit + (" (with uncommitted changes in src/)" if dirty else ""),
    }


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--started", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--settings", default="")
    parser.add_argument("--build", default="", help="aot or jit: the sidecar's build, whose floor ÷ floor uses")
    parser.add_argument("--log-slack", type=int, default=256, help="log lines allowed on top of the per-request limit")
    args = parser.parse_args()

    load_contender_notes(args.run)
    rounds = defaultdict(list)
    warmups = {}
    log_failures = []
    with open(os.path.join(args.run, "measurements.tsv"), encoding="utf-8") as f:
        for line in f:
            m = parse_row(line)
            if failure := log_check(m, args.log_slack):
                log_failures.append(failure)
            if m["kind"] == "warmup":
                warmups[m["contender"]] = m
            else:
                rounds[(m["scenario"], m["contender"])].append(m)

    summary = {}
    for key, ms in rounds.items():
        summary[key] = {
            "rps": median([m.get("rps") for m in ms]),
            "rps_rounds": [m.get("rps") for m in ms],
            "p50": median([m.get("p50") for m in ms]),
            "p99": median([m.get("p99") for m in ms]),
            "cpu_us_per_req": median([m.get("cpu_us_per_req") for m in ms]),
            "origin_share": median([m.get("origin_share") for m in ms]),
            "errors": sum(m.get("errors", 0) + m.get("socket_errors", 0) for m in ms),
            "empty": sum(1 for m in ms if m.get("empty")),
            "load_busy": median([m.get("load_busy") for m in ms]),
            "log_lines_per_req": (sum(m["log_lines"] for m in ms) / sum(m.get("requests") or 0 for m in ms)
                                  if all("log_lines" in m for m in ms) and sum(m.get("requests") or 0 for m in ms) else None),
        }

    memory = defaultdict(dict)
    with open(os.path.join(args.run, "memory.tsv"), encoding="utf-8") as f:
        for line in f:
            kind, name, kb = line.split()
            memory[name][kind] = int(kb)
    startup = defaultdict(list)
    with open(os.path.join(args.run, "startup.jsonl"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            startup[record["server"]].append(record)

    info = machine(args.repo)
    floors = sorted({k[1] for k in summary if k[1].startswith("floor-")})
    floor_text = ""
    if args.build and floors:
        floor_text = (f"  ÷ floor uses the floor of the sidecar's own build ({BUILD_NAME.get(args.build, args.build)}: "
                      f"floor-{args.build}, floor-{args.build}-cache for the cache hits); floors measured: {', '.join(floors)}.")
    lines = [
        f"# {'INVALID: ' if log_failures else ''}ProxySidecar vs nginx — {args.started}",
        "",
    ]
    if log_failures:
        lines += ["**INVALID: a contender wrote more log lines than its access-log line per request, so its figures "
                  "include that logging** (the log check, bench/README.md):", ""]
        lines += [f"- {failure}" for failure in log_failures]
        lines.append("")
    lines += [
        f"- Machine: {info['nproc']} cores, {info['cpu']}, kernel {info['kernel']}, {info['os']}",
        f"- Sidecar commit {info['commit']}, .NET SDK {info['dotnet']}; nginx {info['nginx']}; {info['wrk']}; {info['h2load']}",
        f"- Settings: {args.settings}",
        "- Server under test and the shared origin (nginx, plain HTTP, keep-alive) on one core, the load generator on the other.",
        "- req/s, p50/p99 latency and server CPU per request are medians over the interleaved rounds;",
        "  ratio = sidecar req/s ÷ nginx req/s in the same run (above 1.0: the sidecar is faster).",
        "- The floor (bench/floor) is Kestrel + YARP with the same certificate and runtime settings and nothing of the",
        "  sidecar's own (no RFC 9111 logic, logging, telemetry or admin listener); with the cache, stock OutputCaching",
        "  storing every GET for 60 s. ÷ floor = sidecar req/s ÷ floor req/s: what the sidecar's own work costs.",
    ]
    if floor_text:
        lines.append(floor_text)
    lines += [
        "- log lines/req: lines the server wrote (stdout, stderr, nginx's access and error logs) per request served;",
        "  1 is the access log, 0 for a contender without one.",
        "",
        "| scenario | contender | req/s | p50 ms | p99 ms | server CPU µs/req | ratio | ÷ floor | log lines/req | req/s per round | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    ratios = []
    scenario_order = [s for s in SCENARIOS if any(k[0] == s for k in summary)]
    for scenario in scenario_order:
        contenders = [k[1] for k in summary if k[0] == scenario]
        contenders.sort(key=lambda c: (c.startswith("sidecar") is False, c))
        for contender in contenders:
            s = summary[(scenario, contender)]
            ratio = None
            base = summary.get((scenario, baseline(contender)))
            if base and base["rps"] and s["rps"]:
                ratio = s["rps"] / base["rps"]
                ratios.append((scenario, contender, ratio))
            of_floor = None
            floor = summary.get((scenario, floor_of(contender, args.build)))
            if floor and floor["rps"] and s["rps"]:
                of_floor = s["rps"] / floor["rps"]
            notes = []
            if s["empty"]:
                notes.append(f"{s['empty']} round(s) without a single completed request")
            if s["load_busy"] is not None and s["load_busy"] >= 0.9:
                notes.append(f"load generator {s['load_busy']:.0%} busy: it, not the server, may be the limit")
            if s["errors"]:
                notes.append(f"{s['errors']} errors")
            if scenario.endswith("-hit") and s["origin_share"] is not None:
                share = s["origin_share"]
                notes.append(f"hit ratio {max(0.0, 1 - share):.0%}" + (" — NOT cached" if share > 0.5 else ""))
            rounds_text = " / ".join(fmt(v) for v in s["rps_rounds"])
            lines.append(
                f"| {SCENARIOS[scenario]} | {CONTENDER_NOTE.get(contender, contender)} | {fmt(s['rps'])} | "
                f"{fmt(s['p50'], 2)} | {fmt(s['p99'], 2)} | {fmt(s['cpu_us_per_req'], 1)} | "
                f"{fmt(ratio, 2)} | {fmt(of_floor, 2)} | {fmt(s['log_lines_per_req'], 2)} | {rounds_text} | {'; '.join(notes)} |")
    if warmups:
        lines += ["", "First seconds under load (cold process, keep-alive 1 KiB; the cache contenders on hits):", "",
                  "| contender | req/s | server CPU µs/req |", "|---|---:|---:|"]
        for contender, m in sorted(warmups.items()):
            lines.append(f"| {CONTENDER_NOTE.get(contender, contender)} | {fmt(m.get('rps'))} | {fmt(m.get('cpu_us_per_req'), 1)} |")

    lines += ["", "Memory (VmRSS / VmHWM / RssAnon from /proc, summed over the server's processes: nginx = master + workers; "
              "RSS includes file-backed pages shared with other processes, such as the .NET runtime and framework assemblies; "
              "anonymous RSS is the process's own heap) and start-up (exec → first HTTPS 200, polled over TLS every 2 ms):", "",
              "| server | RSS idle MB | RSS peak MB | RSS at end MB | anonymous RSS idle / at end MB | exec → first HTTPS 200 ms (median) | starts (ms) |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for name in sorted(memory):
        mem = memory[name]
        whole = [v for k, v in mem.items() if not k.endswith("_anon")]
        lines.append(f"| {CONTENDER_NOTE.get(name, name)} | {fmt(mem.get('idle', 0) / 1024, 1)} | "
                     f"{fmt(max(whole) / 1024, 1)} | {fmt(mem.get('end', 0) / 1024, 1)} | "
                     f"{fmt(mem.get('idle_anon', 0) / 1024, 1)} / {fmt(mem.get('end_anon', 0) / 1024, 1)} | | |")
    for name, records in sorted(startup.items()):
        times = [r["first_200_ms"] for r in records]
        lines.append(f"| {name}, fresh start (RSS 2 s after the first 200) | {fmt(median([r['rss_kb'] for r in records]) / 1024, 1)} | | | | "
                     f"{fmt(median(times), 0)} | {', '.join(fmt(t) for t in times)}; listening after "
                     f"{fmt(median([r.get('listening_ms') for r in records]))} ms; CPU to first 200 {fmt(median([r.get('cpu_ms') for r in records]))} ms |")
    lines.append("")

    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump({"machine": info, "settings": args.settings, "started": args.started, "build": args.build,
                   "invalid": bool(log_failures), "log_check": log_failures,
                   "summary": {f"{k[0]}|{k[1]}": v for k, v in summary.items()},
                   "warmup": warmups, "memory": memory, "startup": startup}, f, indent=1)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no chart written")
        return 3 if log_failures else 0
    if not ratios:
        return 3 if log_failures else 0
    labels = [f"{SCENARIOS[s]}\n({CONTENDER_NOTE.get(c, c)})" if c not in ("sidecar", "sidecar-cache") else SCENARIOS[s]
              for s, c, _ in ratios]
    values = [r for _, _, r in ratios]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(values) + 1.6))
    colors = ["#9e9e9e" if c.startswith("floor") else "#2a9d8f" if v >= 1 else "#e76f51" for (_, c, _), v in zip(ratios, values)]
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    for i, v in enumerate(values):
        ax.text(v + 0.01, i, f"{v:.2f}", va="center", fontsize=8)
    ax.set_xlabel("throughput ratio sidecar / nginx (same run; > 1 = sidecar faster)")
    ax.set_title(f"{'INVALID (log check) — ' if log_failures else ''}ProxySidecar vs nginx — {args.started} — commit {info['commit']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out + ".png", dpi=110)
    return 3 if log_failures else 0


if __name__ == "__main__":
    sys.exit(main())
