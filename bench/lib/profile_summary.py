"""Self CPU time per .NET assembly (JIT-compiled frames) or native library, from `perf report --sort dso,symbol`."""
import collections
import re
import sys

JIT_METHOD = re.compile(r"\[([A-Za-z][\w.]+)\] [\w.+`<>]+::")
LINE = re.compile(r"\s+([0-9.]+)%\s+(.+?)\s+\[(.)\]\s+(.*)")

totals = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = LINE.match(line)
    if not m:
        continue
    percent, dso, symbol = float(m.group(1)), m.group(2), m.group(4)
    if dso.startswith("[JIT]"):
        method = JIT_METHOD.search(symbol)
        dso = "JIT " + (method.group(1) if method else "stubs")
    totals[dso.strip()] += percent
for name, percent in totals.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 30):
    print(f"{percent:6.2f}%  {name}")
