#!/usr/bin/env python3
"""The progress line of the measurement just taken (the last line of measurements.tsv), and its log check.

    progress.py RUN_DIR ROUNDS BUILD LOG_SLACK

Prints one line to stdout, e.g.
    r1/3  h1-1k  sidecar  11,210 req/s  p99 4.1 ms  69 µs/req  (0.53× nginx, 0.95× floor-aot)
with the ratios against the baseline and the same-build floor measured in the same round (they are
measured before the sidecar contenders in every scenario). When the contender wrote more log lines than
allowed, prints the reason to stderr, keeps the first lines of each file it wrote to in
RUN_DIR/logs/excess.<scenario>.<contender>.<kind><round>.txt, and exits 3.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from report import baseline, floor_of, fmt, log_check, parse_row  # noqa: E402


def main():
    run, rounds, build, slack = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(os.path.join(run, "measurements.tsv"), encoding="utf-8") as f:
        rows = [line for line in f if line.strip()]
    m = parse_row(rows[-1])
    same_round = [parse_row(line) for line in rows[:-1]
                  if line.split("\t")[0] == m["kind"] and line.split("\t")[1] == m["scenario"] and line.split("\t")[3] == str(m["round"])]

    def rps_of(contender):
        found = [r.get("rps") for r in same_round if r["contender"] == contender]
        return found[-1] if found else None

    relative = []
    # in the rounds the baseline and the floors are measured before the sidecar; the warm-up order is arbitrary
    for other in (baseline(m["contender"]), floor_of(m["contender"], build)) if m["kind"] == "round" else ():
        other_rps = rps_of(other) if other else None
        if other_rps and m.get("rps"):
            relative.append(f"{m['rps'] / other_rps:.2f}× {other}")
    label = "warm-up" if m["kind"] == "warmup" else f"r{m['round']}/{rounds}"
    p99 = f"p99 {fmt(m.get('p99'), 1)} ms" if m.get("p99") is not None else "p99 —"
    log_text = ""
    if "log_lines" in m and m.get("requests"):
        log_text = f"  {m['log_lines'] / m['requests']:.2f} log lines/req"
    print(f"{label:<8} {m['scenario']:<15} {m['contender']:<20} {fmt(m.get('rps')):>8} req/s  {p99:<12} "
          f"{fmt(m.get('cpu_us_per_req')):>5} µs/req{log_text}" + (f"  ({', '.join(relative)})" if relative else ""),
          flush=True)

    failure = log_check(m, slack)
    if not failure:
        return 0
    sample = os.path.join(run, "logs", f"excess.{m['scenario']}.{m['contender']}.{m['kind']}{m['round']}.txt")
    with open(sample, "w", encoding="utf-8") as out:
        for label_, count, path in m["log_files"]:
            if count == "0":
                continue
            out.write(f"== {label_}: {count} lines, the first 20 ({path})\n")
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    for _, line in zip(range(20), f):
                        out.write(line)
            except OSError as e:
                out.write(f"(unreadable: {e})\n")
    print(f"ERROR (log check): {failure}; the first lines are in {sample}", file=sys.stderr, flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main())
