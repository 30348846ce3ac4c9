#!/usr/bin/env bash
# A/B comparison of sidecar variants (environment variables and/or another published build) on one
# scenario, interleaved, on the same origin: req/s, server CPU µs per request, RSS idle and peak,
# and exec → first 200. For tuning; bench/run.sh is the benchmark against nginx.
#
#   bench/ab.sh "default" "nopgo:DOTNET_TieredPGO=0" "other@/path/to/publish:DOTNET_gcServer=0"
#   bench/ab.sh "jit" "aot@/path/to/aot-publish"   (a Native AOT publish: its ProxySidecar executable is started)
#   SCENARIO=h1-1k DURATION=10 ROUNDS=3 WARMUP=20 STARTS=3 bench/ab.sh ...
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$BENCH_DIR/work/ab"
# shellcheck source=run.sh
source "$BENCH_DIR/run.sh"
SCENARIO="${SCENARIO:-h1-1k}"
STARTS="${STARTS:-3}"

[ "$#" -ge 1 ] || die "name one or more variants: name[@publish-dir][:VAR=value VAR=value]"
check_ports "$ORIGIN_PORT" "$STARTUP_PORT" $(seq "$((SIDECAR_PORT + 10))" "$((SIDECAR_PORT + 10 + $#))")
ensure_tools
prepare_files
publish_sidecar
start_nginx origin origin "$ORIGIN_PORT"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/1k.bin" && break; sleep 0.1; done

declare -a NAMES=()
i=0
for spec in "$@"; do
  head="${spec%%:*}"; envs=""; [ "$head" != "$spec" ] && envs="${spec#*:}"
  name="${head%%@*}"; dir="$PUBLISH"; [ "$name" != "$head" ] && dir="${head#*@}"
  NAMES+=("$name")
  : > "$RUN/startup.$name.jsonl"
  # shellcheck disable=SC2086,SC2046
  "$PYTHON" "$BENCH_DIR/lib/startup.py" --runs "$STARTS" --cpu "$SERVER_CPU" --name "$name" \
    --url "https://127.0.0.1:$STARTUP_PORT/1k.bin" --cwd "$dir" \
    --env "$(sidecar_env "$name" "$STARTUP_PORT" "$((ADMIN_BASE + 9))") $envs" -- $(sidecar_cmd "$dir") >> "$RUN/startup.$name.jsonl"
  # shellcheck disable=SC2086
  SIDECAR_DIR="$dir" start_sidecar "$name" "$((SIDECAR_PORT + 10 + i))" "$((ADMIN_BASE + 20 + i))" $envs
  i=$((i + 1))
done
: > "$RUN/measurements.tsv"
for name in "${NAMES[@]}"; do wait_https "$name" "$(scenario_path "$SCENARIO")"; done
sleep 2
for name in "${NAMES[@]}"; do printf 'idle\t%s\t%s\n' "$name" "$(mem_kb "$name" VmRSS)" >> "$RUN/memory.tsv"; done
for name in "${NAMES[@]}"; do measure "$SCENARIO" "$name" 0 "$WARMUP" warmup; done
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  for name in "${NAMES[@]}"; do measure "$SCENARIO" "$name" "$round" "$DURATION" round; done
done
for name in "${NAMES[@]}"; do printf 'peak\t%s\t%s\n' "$name" "$(mem_kb "$name" VmHWM)" >> "$RUN/memory.tsv"; done
cleanup
"$PYTHON" "$BENCH_DIR/lib/ab_report.py" "$RUN" "${NAMES[@]}"
