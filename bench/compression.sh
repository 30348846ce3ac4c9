#!/usr/bin/env bash
# What each Brotli quality and gzip level costs: CPU µs per KiB and compressed size, for the encoders the sidecar
# uses, one shot (what the cache stores, once per entry) and streamed with a flush after each 16 KiB write (what
# passes through, on every response), on HTML, JSON and program text of 16 and 128 KiB. Pinned to one core.
#
#   bench/compression.sh                 # writes bench/results/compression-<date>.md (and compression-latest.md)
#   MS=100 bench/compression.sh          # shorter measurements
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
MS="${MS:-300}"
CPU="${SERVER_CPU:-1}"
OUT="$BENCH_DIR/work/compression"
mkdir -p "$OUT" "$BENCH_DIR/results"
dotnet publish "$BENCH_DIR/compression/CompressionLevels.csproj" -c Release -o "$OUT" -nologo -v quiet > "$OUT/publish.log" 2>&1 \
  || { cat "$OUT/publish.log" >&2; exit 1; }
stamp="$(date -u +%Y%m%d-%H%M%S)"
{
  echo "# Compression levels, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Commit $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), pinned to core $CPU."
  echo "Size: compressed bytes as a share of the input. µs/KiB: CPU time per KiB of input."
  echo
  taskset -c "$CPU" dotnet "$OUT/CompressionLevels.dll" "$REPO_DIR" "$MS"
} > "$BENCH_DIR/results/compression-$stamp.md"
cp "$BENCH_DIR/results/compression-$stamp.md" "$BENCH_DIR/results/compression-latest.md"
cat "$BENCH_DIR/results/compression-$stamp.md"
