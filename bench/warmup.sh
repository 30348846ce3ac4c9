#!/usr/bin/env bash
# Warm-up cost of sidecar variants: CPU time a FRESH process spends per request over its first
# BATCHES × REQUESTS keep-alive 1 KiB requests (proxied, cache off), batch by batch. CPU time per
# request barely depends on how busy the machine is, so this shows JIT/tiering effects even where
# req/s figures are noise.
#
#   bench/warmup.sh default "pgo:DOTNET_TieredPGO=1"
#   REQUESTS=25000 BATCHES=5 ROUNDS=2 bench/warmup.sh default "other@/path/to/publish"
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$BENCH_DIR/work/warmup"
# shellcheck source=run.sh
source "$BENCH_DIR/run.sh"
REQUESTS="${REQUESTS:-25000}"
BATCHES="${BATCHES:-5}"
ROUNDS="${ROUNDS:-2}"

[ "$#" -ge 1 ] || die "name one or more variants: name[@publish-dir][:VAR=value VAR=value]"
check_ports "$ORIGIN_PORT" "$SIDECAR_PORT" "$((ADMIN_BASE + 5))"
ensure_tools
prepare_files
publish_sidecar
start_nginx origin origin "$ORIGIN_PORT"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/1k.bin" && break; sleep 0.1; done

echo "| variant | round | server CPU µs per request, batch by batch of $REQUESTS requests |"
echo "|---|---:|---|"
for round in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    head="${spec%%:*}"; envs=""; [ "$head" != "$spec" ] && envs="${spec#*:}"
    name="${head%%@*}"; dir="$PUBLISH"; [ "$name" != "$head" ] && dir="${head#*@}"
    # shellcheck disable=SC2086
    SIDECAR_DIR="$dir" start_sidecar "$name" "$SIDECAR_PORT" "$((ADMIN_BASE + 5))" Sidecar__Cache__Enabled=false $envs
    wait_https "$name" /1k.bin
    figures=""
    for _ in $(seq 1 "$BATCHES"); do
      before="$(cpu_ticks "$name")"
      taskset -c "$LOAD_CPU" h2load --h1 -t1 -c"$CONNS" -n "$REQUESTS" "https://127.0.0.1:$SIDECAR_PORT/1k.bin" > "$RUN/raw/$name.txt" 2>&1 \
        || die "h2load failed: $(tail -3 "$RUN/raw/$name.txt")"
      after="$(cpu_ticks "$name")"
      figures="$figures $(( (after - before) * 1000000 / $(getconf CLK_TCK) / REQUESTS ))"
    done
    echo "| $name | $round |$figures |"
    stop_pid "${PIDS[$name]}"
  done
done
