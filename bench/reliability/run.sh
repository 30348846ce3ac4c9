#!/usr/bin/env bash
# Reliability suite, the long cases: the sidecar under hostile traffic, with a normal client measured meanwhile.
#
#   bench/reliability/run.sh                          # publishes the Native AOT build, ~7 minutes
#   BINARY=out/aot/ProxySidecar bench/reliability/run.sh   # an executable already published
#   DURATION=20 CONNS=300 bench/reliability/run.sh    # a quick check that everything works
#   BINARY=out/aot-before/ProxySidecar LABEL=before bench/reliability/run.sh   # another build, named in the summary
#
# Cases (each against a freshly started sidecar in front of bench/reliability/app.py, a raw HTTP/1.1 app that
# counts the request heads it receives):
#   slow-headers        slowhttptest -H: CONNS connections sending header lines slowly (slowloris)
#   slow-body           slowhttptest -B: CONNS connections sending their bodies slowly (R-U-Dead-Yet)
#   slow-body-buffered  the same with Sidecar:Hosting:RequestBuffering:Enabled=true
#   h2-rapid-reset      H2_CONNS HTTP/2 connections, each sending up to 20,000 HEADERS+RST_STREAM pairs
#   h2-many-streams     h2load with more concurrent streams per connection than the sidecar allows
# For each: the normal client's p99 (a GET every 50 ms, each on a new TLS connection), its failures, the
# sidecar's resident memory before and at its peak, what reached the app, and the sidecar's log lines at
# Warning and above, with a verdict against what each case expects (normal p99 within 100 ms and no normal request
# failed; with request buffering, no request head reaches the app; after a rapid reset, every attacking connection got
# a GOAWAY with an error code and the log holds at most one line per connection). The summary table is printed and
# written to bench/reliability/results/<date>.md and latest.md. Installs slowhttptest and h2load (nghttp2-client) from apt when missing. Every process it
# starts is stopped by PID on exit.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DIR/../.." && pwd)"
DURATION="${DURATION:-60}"       # seconds per attack
CONNS="${CONNS:-1000}"           # slowhttptest connections
RATE="${RATE:-200}"              # slowhttptest new connections per second
H2_CONNS="${H2_CONNS:-10}"       # rapid-reset connections (one after another)
H2_PAIRS="${H2_PAIRS:-20000}"    # HEADERS+RST_STREAM pairs per connection at most
PORT_BASE="${PORT_BASE:-19100}"
BINARY="${BINARY:-}"
LABEL="${LABEL:-}"
CASES="${CASES:-slow-headers slow-body slow-body-buffered h2-rapid-reset h2-many-streams}"
PYTHON="${PYTHON:-python3}"

APP_PORT=$((PORT_BASE + 80))
HTTPS_PORT=$((PORT_BASE + 443))
ADMIN_PORT=$((PORT_BASE + 901))
WORK="$REPO/bench/work/reliability"
RESULTS="$DIR/results"

log() { printf '[reliability %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

declare -a STARTED=()
stop_pid() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { local pid; for pid in "${STARTED[@]}"; do stop_pid "$pid"; done; }
trap cleanup EXIT

# ---------------------------------------------------------------- tools, binary, certificate
need=()
command -v slowhttptest >/dev/null || need+=(slowhttptest)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v "$PYTHON" >/dev/null || die "python3 is required"

mkdir -p "$WORK" "$RESULTS"
if [ -z "$BINARY" ]; then
  BINARY="$REPO/bench/work/publish-aot/ProxySidecar"
  log "publishing the Native AOT build to $(dirname "$BINARY") (a few minutes)"
  dotnet publish "$REPO/src/ProxySidecar/ProxySidecar.csproj" -c Release -r linux-x64 -p:PublishAot=true \
    -o "$(dirname "$BINARY")" -nologo -v quiet >/dev/null
fi
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
[ -x "$BINARY" ] || die "no executable at $BINARY"
[ -s "$WORK/certs/tls.crt" ] || bash "$REPO/certs/dev-cert.sh" localhost "$WORK/certs" >/dev/null 2>&1

# ---------------------------------------------------------------- processes
"$PYTHON" "$DIR/app.py" "$APP_PORT" >"$WORK/app.log" 2>&1 &
STARTED+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$APP_PORT/stats" && break; sleep 0.1; done

SIDECAR_PID=""
start_sidecar() { # extra environment as NAME=VALUE arguments
  env -i PATH="$PATH" HOME="${HOME:-/root}" ASPNETCORE_ENVIRONMENT=Production \
    Sidecar__Hosting__HttpsPort="$HTTPS_PORT" Sidecar__Hosting__AdminPort="$ADMIN_PORT" \
    Sidecar__Hosting__ListenAddress=127.0.0.1 Sidecar__Hosting__AdminListenAddress=127.0.0.1 \
    Sidecar__Upstream__Address="http://127.0.0.1:$APP_PORT" \
    Sidecar__Tls__CertificatePath="$WORK/certs/tls.crt" Sidecar__Tls__KeyPath="$WORK/certs/tls.key" \
    "$@" "$BINARY" >"$WORK/sidecar.out" 2>"$WORK/sidecar.err" &
  SIDECAR_PID=$!
  STARTED+=("$SIDECAR_PID")
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz/ready")" = 200 ] && return 0
    kill -0 "$SIDECAR_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/sidecar.err" >&2
  die "the sidecar did not become ready"
}
stop_sidecar() { stop_pid "$SIDECAR_PID"; }

rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sample_rss() { # pid file: peak RSS in MB, written to file every 0.5 s until the pid ends
  local pid="$1" file="$2" peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now="$(rss_mb "$pid")"; [ "${now:-0}" -gt "$peak" ] && peak="$now" && echo "$peak" >"$file"
    sleep 0.5
  done
}
app_stat() { curl -s "http://127.0.0.1:$APP_PORT/stats" | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
warn_lines() { # log lines at Warning and above since line $1 of the sidecar's stdout
  tail -n +"$(($1 + 1))" "$WORK/sidecar.out" | grep -cE '"LogLevel":"(Warning|Error|Critical)"' || true
}

ROWS=()
record() { ROWS+=("$(IFS='|'; echo "$*")"); }

run_case() {
  local name="$1"
  log "case $name"
  case "$name" in
    slow-body-buffered) start_sidecar Sidecar__Hosting__RequestBuffering__Enabled=true ;;
    *) start_sidecar ;;
  esac
  curl -s -o /dev/null "http://127.0.0.1:$APP_PORT/reset"
  local rss_before lines_before peak_file="$WORK/peak.txt"
  # a few requests first, so that the baseline includes a warmed-up proxy path
  "$PYTHON" "$DIR/probe.py" "$HTTPS_PORT" 2 --path /probe >/dev/null
  sleep 1
  rss_before="$(rss_mb "$SIDECAR_PID")"
  echo "$rss_before" >"$peak_file"
  sample_rss "$SIDECAR_PID" "$peak_file" &
  local sampler=$!
  STARTED+=("$sampler")
  curl -s -o /dev/null "http://127.0.0.1:$APP_PORT/reset"
  lines_before="$(wc -l <"$WORK/sidecar.out")"

  local attack_pid detail="" url="https://127.0.0.1:$HTTPS_PORT/"
  case "$name" in
    slow-headers)
      slowhttptest -H -c "$CONNS" -r "$RATE" -i 10 -l "$DURATION" -x 24 -p 3 -u "$url" >"$WORK/attack.log" 2>&1 & ;;
    slow-body|slow-body-buffered)
      slowhttptest -B -c "$CONNS" -r "$RATE" -i 10 -s 8192 -l "$DURATION" -x 10 -p 3 -u "$url" >"$WORK/attack.log" 2>&1 & ;;
    h2-rapid-reset)
      ( "$PYTHON" "$DIR/h2reset.py" 127.0.0.1 "$HTTPS_PORT" --connections "$H2_CONNS" --pairs "$H2_PAIRS" >"$WORK/attack.json" 2>&1; sleep "$DURATION" ) & ;;
    h2-many-streams)
      h2load -c 10 -m 1000 -D "$DURATION" "https://127.0.0.1:$HTTPS_PORT/slow?ms=100" >"$WORK/attack.log" 2>&1 & ;;
  esac
  attack_pid=$!
  STARTED+=("$attack_pid")
  local probe
  probe="$("$PYTHON" "$DIR/probe.py" "$HTTPS_PORT" "$DURATION" --path /probe)"
  wait "$attack_pid" 2>/dev/null || true

  local heads body_heads aborted inflight peak warns
  heads="$(app_stat heads)"   # not counting the probes, /stats or /reset (slowhttptest's own availability GETs count)
  body_heads="$(app_stat body_heads)"
  aborted="$(app_stat aborted)"
  inflight="$(app_stat inflight_peak)"
  peak="$(cat "$peak_file")"
  warns="$(warn_lines "$lines_before")"
  case "$name" in
    slow-headers|slow-body|slow-body-buffered)
      detail="$("$PYTHON" -c "
import re
text = re.sub(r'\x1b\[[0-9;]*m', '', open('$WORK/attack.log', errors='replace').read())
last = lambda key: (re.findall(key + r':\s+(\w+)', text) or ['?'])[-1]
peak = max([int(n) for n in re.findall(r'connected:\s+(\d+)', text)] or [0])
print('slowhttptest: %s connected at most, at the end %s connected, %s closed, service available %s' % (
    peak, last('connected'), last('closed'), last('service available')))")" ;;
    h2-rapid-reset)
      detail="$("$PYTHON" -c "
import json, collections
r = json.load(open('$WORK/attack.json'))
goaway = collections.Counter(str(c['goaway']) for c in r)
print('pairs sent per connection before the close: %s; GOAWAY received: %s' % (
    '/'.join(str(c['pairs_sent']) for c in r), ', '.join('%s x%d' % kv for kv in goaway.items())))")" ;;
    h2-many-streams)
      detail="h2load: $(grep -E '^requests:' "$WORK/attack.log" | sed 's/^requests: //'); app in flight at most $inflight" ;;
  esac
  local probe_p99 probe_fail verdict
  probe_p99="$(echo "$probe" | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['p99_ms'])")"
  probe_fail="$(echo "$probe" | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); print('%d/%d' % (d['failures'], d['requests']))")"
  verdict="$("$PYTHON" - "$name" "$probe" "$body_heads" "$warns" "$WORK/attack.json" "$H2_CONNS" "$inflight" <<'PY'
import json, sys
name, probe, body_heads, warns, attack, h2_conns, inflight = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
problems = []
# Slow clients must not slow anyone else down; a flood of valid HTTP/2 requests at full speed saturates the CPU,
# so there only the bounds apply.
if name.startswith("slow-") and (probe["p99_ms"] is None or probe["p99_ms"] > 100):
    problems.append("normal p99 over 100 ms")
if probe["failures"]:
    problems.append("normal requests failed")
if name == "slow-body-buffered" and body_heads:
    problems.append("request heads with a body reached the app")
if name == "h2-many-streams" and inflight > 10 * 100 + 10:
    problems.append("more requests in flight at the app than 10 connections x 100 streams")
if name == "h2-rapid-reset":
    conns = json.load(open(attack))
    if any(c["goaway"] in (None, "NO_ERROR") for c in conns):
        problems.append("a connection got no GOAWAY with an error code")
    if warns > h2_conns:
        problems.append("more than one log line per connection")
print("ok" if not problems else "FAIL: " + "; ".join(problems))
PY
)"
  record "$name" "$verdict" "$probe_p99" "$probe_fail" "$rss_before → $peak" "$heads ($body_heads with a body, $aborted cut off)" "$warns" "$(cut -d' ' -f1 /proc/loadavg)" "$detail"
  stop_sidecar
  stop_pid "$sampler"
}

for c in $CASES; do run_case "$c"; done

# ---------------------------------------------------------------- summary
stamp="$(date -u +%Y%m%d-%H%M%S)"
version="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "# Reliability run $stamp"
  echo
  echo "Binary: \`${BINARY#"$REPO"/}\`${LABEL:+ ($LABEL)}, run at commit $version; ${DURATION} s per attack; slowhttptest with $CONNS connections"
  echo "($RATE new per second); $(nproc) cores. Normal client: a GET every 50 ms, each on a new TLS connection. The load"
  echo "average (1 min) is the machine's, other processes included: above the core count, latency figures measure the machine."
  echo
  echo "| case | verdict | normal p99 ms | normal failed | sidecar RSS MB (before → peak) | requests reaching the app | log lines ≥ Warning | load average at the end | detail |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for row in "${ROWS[@]}"; do echo "| ${row//|/ | } |"; done
} >"$RESULTS/$stamp.md"
cp "$RESULTS/$stamp.md" "$RESULTS/latest.md"
cat "$RESULTS/$stamp.md"
log "written to bench/reliability/results/$stamp.md"
