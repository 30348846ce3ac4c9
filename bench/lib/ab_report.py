#!/usr/bin/env python3
"""Prints the table of one bench/ab.sh run: ab_report.py RUN_DIR NAME..."""
import json
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(__file__))
from report import CLK_TCK, fmt, median, parse  # noqa: E402


def main():
    run, names = sys.argv[1], sys.argv[2:]
    rounds, warm = defaultdict(list), {}
    with open(os.path.join(run, "measurements.tsv"), encoding="utf-8") as f:
        for line in f:
            kind, scenario, name, _r, ticks, _origin, wall_ms, path, _load = line.rstrip("\n").split("\t")[:9]
            m = parse(scenario, path, int(wall_ms))
            req = m.get("requests") or 0
            m["cpu"] = int(ticks) * 1e6 / CLK_TCK / req if req else None
            (rounds[name].append(m) if kind == "round" else warm.__setitem__(name, m))
    memory = defaultdict(dict)
    with open(os.path.join(run, "memory.tsv"), encoding="utf-8") as f:
        for line in f:
            kind, name, kb = line.split()
            memory[name][kind] = int(kb) / 1024
    print("| variant | warm-up req/s | warm-up CPU µs/req | req/s | CPU µs/req | p50 ms | p99 ms | RSS idle MB | RSS peak MB | exec→200 ms | exec→listening ms | CPU ms to first 200 | RSS after start MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        ms = rounds[name]
        starts = []
        with open(os.path.join(run, f"startup.{name}.jsonl"), encoding="utf-8") as f:
            starts = [json.loads(line) for line in f]
        w = warm.get(name, {})
        print(f"| {name} | {fmt(w.get('rps'))} | {fmt(w.get('cpu'), 1)} | {fmt(median([m.get('rps') for m in ms]))} "
              f"({' / '.join(fmt(m.get('rps')) for m in ms)}) | {fmt(median([m.get('cpu') for m in ms]), 1)} "
              f"({' / '.join(fmt(m.get('cpu'), 0) for m in ms)}) | {fmt(median([m.get('p50') for m in ms]), 2)} | "
              f"{fmt(median([m.get('p99') for m in ms]), 2)} | {fmt(memory[name].get('idle'), 1)} | {fmt(memory[name].get('peak'), 1)} | "
              f"{fmt(median([s['first_200_ms'] for s in starts]))} ({' / '.join(fmt(s['first_200_ms']) for s in starts)}) | "
              f"{fmt(median([s.get('listening_ms') for s in starts]))} | {fmt(median([s.get('cpu_ms') for s in starts]))} ({' / '.join(fmt(s.get('cpu_ms')) for s in starts)}) | {fmt(median([s['rss_kb'] / 1024 for s in starts]), 1)} |")


if __name__ == "__main__":
    main()
