#!/usr/bin/env bash
# Memory under distinct URLs: the cache's size limit must bound the process, whatever the number of URLs.
#
#   bench/memory.sh                                  # defaults: DURATION=110 LIMITS="33554432 268435456"
#   DURATION=30 LIMITS=33554432 bench/memory.sh      # a quick check
#
# For each limit: starts the sidecar (the Native AOT build unless EXE points elsewhere) in front of nginx serving a
# cacheable 1 KiB asset, sends wrk load where every request is a new URL (/assets/app.css?r=<random>), samples the
# process's RSS every second, then stays idle IDLE seconds. Writes bench/results/memory-<date>.md: per limit, the
# peak and final RSS, what /status reports the cache holds, and the margin RSS − limit (the target is ≤ 60 MB).
# Starts every process itself and stops each (by PID) on exit.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${DURATION:-110}"
IDLE="${IDLE:-15}"
LIMITS="${LIMITS:-33554432 268435456}"
CONNS="${CONNS:-32}"
EXTRA_ENV="${EXTRA_ENV:-}"         # e.g. "DOTNET_GCHeapHardLimit=0x8000000": more settings for the sidecar
PORT_BASE="${PORT_BASE:-19000}"
WORK="$BENCH_DIR/work/memory"
EXE="${EXE:-$BENCH_DIR/work/publish-aot/ProxySidecar}"
RESULTS="$BENCH_DIR/results/memory-$(date -u +%Y%m%d-%H%M%S).md"
ORIGIN_PORT=$((PORT_BASE + 80))
HTTPS_PORT=$((PORT_BASE + 443))
ADMIN_PORT=$((PORT_BASE + 901))

log() { printf '[memory %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

for tool in nginx wrk openssl curl; do
  command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk openssl curl >/dev/null; break; }
done

if [ ! -x "$EXE" ]; then
  log "publishing the Native AOT build to $(dirname "$EXE") (a few minutes)"
  dotnet publish "$REPO_DIR/src/ProxySidecar/ProxySidecar.csproj" -c Release -r linux-x64 -p:PublishAot=true -o "$(dirname "$EXE")" -nologo -v quiet
fi

rm -rf "$WORK" && mkdir -p "$WORK/tls" "$WORK/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/tls/tls.key" -out "$WORK/tls/tls.crt" 2>/dev/null
head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/nginx/app.css"
cat > "$WORK/nginx/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    location /assets/ { alias $WORK/nginx/; add_header Cache-Control "public, max-age=600"; }
  }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
cat > "$WORK/distinct.lua" <<'LUA'
math.randomseed(os.time())
request = function() return wrk.format("GET", "/assets/app.css?r=" .. math.random(1, 1000000000)) end
LUA

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

{
  echo "# Memory under distinct URLs ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "$DURATION s of wrk -c$CONNS, every request a new URL of a cacheable 1 KiB asset; then $IDLE s idle. Executable: \`$(basename "$EXE")\` ($( [ -f "$(dirname "$EXE")/ProxySidecar.dll" ] && echo JIT || echo Native AOT ))."
  echo
  echo "| SizeLimitBytes | requests | RSS at start | RSS peak | RSS after idle | cache entries | cache bytes (as the limit counts) | peak − limit |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$RESULTS"

for limit in $LIMITS; do
  log "SizeLimitBytes=$limit"
  env -i PATH="$PATH" HOME="$HOME" ASPNETCORE_ENVIRONMENT=Production \
    Sidecar__Hosting__HttpsPort=$HTTPS_PORT Sidecar__Hosting__AdminPort=$ADMIN_PORT \
    Sidecar__Hosting__ListenAddress=127.0.0.1 Sidecar__Hosting__AdminListenAddress=127.0.0.1 \
    Sidecar__Upstream__Address=http://127.0.0.1:$ORIGIN_PORT Sidecar__Cache__SizeLimitBytes=$limit \
    Sidecar__Tls__CertificatePath="$WORK/tls/tls.crt" Sidecar__Tls__KeyPath="$WORK/tls/tls.key" \
    Sidecar__AccessLog__Enabled=false $EXTRA_ENV \
    "$EXE" > "$WORK/sidecar-$limit.log" 2>&1 & pid=$!; PIDS+=($pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz/ready" >/dev/null && break; sleep 0.1; done
  start=$(rss_kb $pid); peak=$start
  wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/distinct.lua" "https://127.0.0.1:$HTTPS_PORT" > "$WORK/wrk-$limit.txt" 2>&1 & wrk_pid=$!
  while kill -0 $wrk_pid 2>/dev/null; do rss=$(rss_kb $pid); [ "$rss" -gt "$peak" ] && peak=$rss; sleep 1; done
  for _ in $(seq "$IDLE"); do rss=$(rss_kb $pid); [ "$rss" -gt "$peak" ] && peak=$rss; sleep 1; done
  final=$(rss_kb $pid)
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk-$limit.txt")
  status=$(curl -s "http://127.0.0.1:$ADMIN_PORT/status")
  entries=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cache"]["entries"])' "$status")
  bytes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cache"]["bytes"])' "$status")
  kill $pid; wait $pid 2>/dev/null || true
  mb() { awk -v v="$1" 'BEGIN { printf "%.1f MB", v / 1000 }'; }
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$limit" "$requests" "$(mb $start)" "$(mb $peak)" "$(mb $final)" "$entries" \
    "$(awk -v v="$bytes" 'BEGIN { printf "%.1f MB", v / 1e6 }')" "$(awk -v p="$peak" -v l="$limit" 'BEGIN { printf "%.1f MB", (p * 1000 - l) / 1e6 }')" >> "$RESULTS"
  log "peak $(mb $peak), after idle $(mb $final), cache $bytes bytes in $entries records"
done

cp "$RESULTS" "$BENCH_DIR/results/memory-latest.md"
cat "$RESULTS"
