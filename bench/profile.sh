#!/usr/bin/env bash
# CPU profile of the sidecar under keep-alive load, with perf and the runtime's perf map (JIT-compiled
# frames get their .NET names). Prints the hottest frames, self and inclusive, and keeps the raw data.
#
#   bench/profile.sh                                  # h1-1k, proxied (cache off), otherwise default settings
#   SCENARIO=h1-1k-hit bench/profile.sh Sidecar__Cache__Enabled=true
#   WARMUP=20 SECONDS_PROFILED=10 bench/profile.sh Sidecar__AccessLog__Enabled=false
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$BENCH_DIR/work/profile"
# shellcheck source=run.sh
source "$BENCH_DIR/run.sh"
SCENARIO="${SCENARIO:-h1-1k}"
WARMUP="${WARMUP:-20}"
SECONDS_PROFILED="${SECONDS_PROFILED:-10}"
command -v perf > /dev/null || die "perf is not installed (apt-get install linux-perf)"

check_ports "$ORIGIN_PORT" "$((SIDECAR_PORT + 20))"
ensure_tools
prepare_files
publish_sidecar
start_nginx origin origin "$ORIGIN_PORT"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/1k.bin" && break; sleep 0.1; done
# shellcheck disable=SC2086
start_sidecar profiled "$((SIDECAR_PORT + 20))" "$((ADMIN_BASE + 40))" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 Sidecar__Cache__Enabled=false "$@"
wait_https profiled "$(scenario_path "$SCENARIO")"
log "warming up for ${WARMUP}s"
run_load "$SCENARIO" profiled "$WARMUP" "$RUN/raw/warmup.txt"
pid="$(server_pids profiled | awk '{print $1}')"
log "profiling pid $pid for ${SECONDS_PROFILED}s under load"
run_load "$SCENARIO" profiled "$((SECONDS_PROFILED + 2))" "$RUN/raw/profiled.txt" &
load=$!
sleep 1
perf record -F 999 -g -p "$pid" -o "$RUN/perf.data" -- sleep "$SECONDS_PROFILED" 2> "$RUN/logs/perf.err"
wait "$load" || true
grep -E "Requests/sec" "$RUN/raw/profiled.txt" >&2 || true
perf report -i "$RUN/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' > "$RUN/self.txt" || true
"$PYTHON" "$BENCH_DIR/lib/profile_summary.py" "$RUN/self.txt" 30 > "$RUN/by-assembly.txt"
perf report -i "$RUN/perf.data" --children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | sed -n 1,120p > "$RUN/inclusive.txt" || true
cleanup
echo "== self time by assembly or library"; cat "$RUN/by-assembly.txt"
echo "== self time, hottest frames"; sed -n 1,40p "$RUN/self.txt" | sed 's/  \+/ /g' | cut -c1-220
echo "== inclusive (in $RUN/inclusive.txt)"
