#!/usr/bin/env bash
# Load benchmark: ProxySidecar against nginx on the same machine, same origin, same certificate.
#
#   sudo bench/run.sh                     # defaults: DURATION=10 ROUNDS=3 WARMUP=20
#   DURATION=3 ROUNDS=1 WARMUP=3 bench/run.sh   # a quick check that everything works
#
# Non-interactive and idempotent: installs what is missing (apt), publishes the sidecar (Release)
# to bench/work/publish, starts every process itself, stops every one of them (by PID) on exit,
# and writes bench/results/<date>.md, .png and .json (plus latest.md/latest.png); a valid run then removes
# the results of older runs but the previous one (they stay in git history). Prints one progress line per
# measurement to stdout; exits non-zero, with the results marked INVALID, when a contender wrote more log
# lines than its access-log line per request. See bench/README.md for what is measured and how.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

DURATION="${DURATION:-10}"          # seconds per measurement
ROUNDS="${ROUNDS:-3}"               # measurements per scenario and contender (interleaved)
WARMUP="${WARMUP:-20}"              # seconds of keep-alive load per contender before round 1 (JIT tiering)
WARMUP_EACH="${WARMUP_EACH:-3}"     # seconds per scenario and contender before round 1
STARTS="${STARTS:-5}"               # start-up measurements per server (median reported)
CONNS="${CONNS:-64}"                # wrk connections, keep-alive scenarios
H2_CLIENTS="${H2_CLIENTS:-16}"      # h2load connections
H2_STREAMS="${H2_STREAMS:-10}"      # h2load concurrent streams per connection
NEWCONN_CONNS="${NEWCONN_CONNS:-16}" # wrk connections, new connection per request (sessions resumed)
FULL_CLIENTS="${FULL_CLIENTS:-8}"   # parallel openssl s_time processes, new connection per request (full handshakes)
SERVER_CPU="${SERVER_CPU:-1}"       # core for the server under test (and the shared origin)
LOAD_CPU="${LOAD_CPU:-0}"           # core for the load generator
SCENARIOS="${SCENARIOS:-h1-1k h1-64k h1-1k-hit h1-64k-hit h1-json-hit h1-json-br-hit h2-1k h2-1k-hit newconn-1k newfull-1k}"
NOLOG_VARIANT="${NOLOG_VARIANT:-1}" # 1: also run the sidecar with its access log off in h1-1k
FLOOR="${FLOOR:-1}"                 # 1: also run the framework floor (bench/floor: Kestrel + YARP, + stock OutputCaching)
# sidecar variants, ";"-separated, each "[name:]VAR=value [VAR=value ...]": each one a contender sidecar-<name>
# (unnamed: sidecar-variant, or sidecar-variant<N> when there are several) in the proxied scenarios, cache off
SIDECAR_VARIANT_ENV="${SIDECAR_VARIANT_ENV:-}"
SKIP_BUILD="${SKIP_BUILD:-0}"
AOT="${AOT:-1}"                     # 1 (default, what the image ships): the Native AOT build (bench/work/publish-aot); 0: the JIT build
FLOOR_BUILDS="${FLOOR_BUILDS:-$([ "$AOT" = 1 ] && echo "aot jit" || echo jit)}" # the floor's builds (floor-aot, floor-jit); ÷ floor uses the sidecar's own
LOG_SLACK="${LOG_SLACK:-256}"       # log lines a measurement may hold beyond 1.05 per request (requests in flight at the end)
KEEP_RUNS="${KEEP_RUNS:-2}"         # result sets (<date>.md/.json/.png) kept in RESULTS_DIR after a valid run
PORT_BASE="${PORT_BASE:-18000}"
PYTHON="${PYTHON:-/usr/bin/python3}"

WORK="$BENCH_DIR/work"
RUN="${RUN:-$WORK/run}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
PUBLISH="$WORK/publish"
[ "$AOT" = 1 ] && PUBLISH="$WORK/publish-aot"
BUILD="$([ "$AOT" = 1 ] && echo aot || echo jit)"
declare -A FLOOR_PUBLISH=([jit]="$WORK/publish-floor" [aot]="$WORK/publish-floor-aot")
# what every server writes (stdout, stderr, nginx's logs), counted per measurement: on tmpfs when there is one,
# so that writing it costs the servers no disk I/O; emptied before each measurement
CAPTURE="${CAPTURE:-$([ -d /dev/shm ] && [ -w /dev/shm ] && echo "/dev/shm/proxysidecar-bench.$$" || echo "$RUN/capture")}"

ORIGIN_PORT=$((PORT_BASE + 80))
NGINX_PORT=$((PORT_BASE + 443))
NGINX_CACHE_PORT=$((PORT_BASE + 444))
SIDECAR_PORT=$((PORT_BASE + 445))
SIDECAR_CACHE_PORT=$((PORT_BASE + 446))
SIDECAR_NOLOG_PORT=$((PORT_BASE + 447))
STARTUP_PORT=$((PORT_BASE + 449))
declare -A FLOOR_PORT=([aot]=$((PORT_BASE + 450)) [jit]=$((PORT_BASE + 452)))
declare -A FLOOR_CACHE_PORT=([aot]=$((PORT_BASE + 451)) [jit]=$((PORT_BASE + 453)))
VARIANT_PORT_BASE=$((PORT_BASE + 460))  # + 0 … 9, one per sidecar variant
ADMIN_BASE=$((PORT_BASE + 900))         # + 0 … 9, and + 10 … 19 for the variants

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- processes, cleanup
declare -a STARTED_PIDS=()

stop_pid() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null || return 0
  local children
  children="$(pgrep -P "$pid" 2>/dev/null || true)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  for child in $children; do kill -KILL "$child" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  STARTED_PIDS=()
}
remove_capture() {
  case "$CAPTURE" in /dev/shm/proxysidecar-bench.*|"$RUN"/capture) rm -rf "$CAPTURE" ;; esac
}
trap 'cleanup; remove_capture' EXIT
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
ensure_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v h2load >/dev/null || missing+=(nghttp2-client)
  command -v curl >/dev/null || missing+=(curl)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v taskset >/dev/null || missing+=(util-linux)
  [ -x "$PYTHON" ] || missing+=(python3)
  if [ -x "$PYTHON" ] && ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then missing+=(python3-matplotlib); fi
  if [ "$AOT" = 1 ]; then
    command -v clang >/dev/null || missing+=(clang)
    [ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "run as root to install ${missing[*]}, or install them first"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is needed to publish the sidecar"
  [ "$(nproc)" -ge 2 ] || die "needs at least 2 cores (one for the server, one for the load generator)"
}

# ---------------------------------------------------------------- files
prepare_files() {
  rm -rf "$RUN"
  mkdir -p "$RUN"/{tls,html,raw,logs} "$RESULTS_DIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$RUN/tls/tls.key" -out "$RUN/tls/tls.crt" 2>/dev/null
  head -c 768 /dev/urandom | base64 -w0 > "$RUN/html/1k.bin"      # 1024 bytes
  head -c 49152 /dev/urandom | base64 -w0 > "$RUN/html/64k.bin"   # 65536 bytes
  # ~64 KiB of an API's JSON (the same every run), for the compressed cache-hit scenarios
  "$PYTHON" - "$RUN/html/64k.json" <<'PY'
import json, random, sys
random.seed(42)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"]
items = []
while len(json.dumps({"items": items, "page": 1})) < 65536 - 200:
    items.append({"id": 100000 + len(items), "name": random.choice(words) + " " + random.choice(words),
                  "created": "2026-%02d-%02dT%02d:%02d:%02dZ" % (random.randint(1, 12), random.randint(1, 28), random.randint(0, 23), random.randint(0, 59), random.randint(0, 59)),
                  "price": round(random.random() * 1000, 2), "tags": random.sample(words, random.randint(0, 3)), "active": random.random() < 0.5})
open(sys.argv[1], "w").write(json.dumps({"items": items, "page": 1}))
PY
}

publish_sidecar() {
  local aot=()
  [ "$AOT" = 1 ] && aot=(-r linux-x64 -p:PublishAot=true)
  if [ "$SKIP_BUILD" = 1 ] && { [ -f "$PUBLISH/ProxySidecar.dll" ] || { [ "$AOT" = 1 ] && [ -x "$PUBLISH/ProxySidecar" ]; }; }; then return; fi
  log "publishing the sidecar (Release${aot:+, Native AOT}) to $PUBLISH"
  dotnet publish "$REPO_DIR/src/ProxySidecar/ProxySidecar.csproj" -c Release "${aot[@]}" -o "$PUBLISH" -nologo -v quiet \
    > "$RUN/logs/publish.log" 2>&1 || { cat "$RUN/logs/publish.log" >&2; die "dotnet publish failed"; }
}

# publish_floor aot|jit: the floor in one build, published like the sidecar in that build
publish_floor() {
  local build="$1" aot=() dir="${FLOOR_PUBLISH[$1]}"
  [ "$build" = aot ] && aot=(-r linux-x64 -p:PublishAot=true)
  local published=0
  case "$build" in
    aot) [ -x "$dir/Floor" ] && [ ! -f "$dir/Floor.dll" ] && published=1 ;;
    jit) [ -f "$dir/Floor.dll" ] && published=1 ;;
    *) die "unknown floor build '$build' in FLOOR_BUILDS (aot, jit)" ;;
  esac
  if [ "$SKIP_BUILD" = 1 ] && [ "$published" = 1 ]; then return; fi
  log "publishing the floor (Release, ${build^^}) to $dir"
  dotnet publish "$BENCH_DIR/floor/Floor.csproj" -c Release "${aot[@]}" -o "$dir" -nologo -v quiet \
    > "$RUN/logs/publish-floor-$build.log" 2>&1 || { cat "$RUN/logs/publish-floor-$build.log" >&2; die "dotnet publish of the floor ($build) failed"; }
}

# nginx.conf for one instance; $1 name, $2 kind (origin|proxy|cache), $3 port
write_nginx_conf() {
  local name="$1" kind="$2" port="$3" dir="$RUN/$1" logs="$CAPTURE"
  [ "$kind" = origin ] && logs="$dir/logs"
  mkdir -p "$dir/logs" "$dir/tmp" "$dir/cache" "$CAPTURE"
  local common="
worker_processes 1;
user root;
pid $dir/nginx.pid;
error_log $logs/$name.error.log warn;
events { worker_connections 4096; }
"
  local http_common="
    client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000; keepalive_timeout 130s;
"
  if [ "$kind" = origin ]; then
    cat > "$dir/nginx.conf" <<EOF
$common
http {
  $http_common
  access_log off;
  sendfile on; tcp_nopush on;
  open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;
  default_type application/octet-stream;
  types { application/json json; application/octet-stream bin; }
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    root $RUN/html;
    location = /nginx_status { stub_status; }
    location / { add_header Cache-Control "public, max-age=60"; }
  }
}
EOF
    return
  fi
  local cache_directives=""
  local cache_zone=""
  if [ "$kind" = cache ]; then
    cache_zone="proxy_cache_path $dir/cache levels=1:2 keys_zone=bench:10m max_size=100m inactive=10m use_temp_path=off;"
    # gzip as nginx does it by default (level 1), for the compressed-hit scenario: every hit compressed again
    cache_directives="proxy_cache bench; add_header X-Cache-Status \$upstream_cache_status; gzip on; gzip_types application/json; gzip_vary on;"
  fi
  cat > "$dir/nginx.conf" <<EOF
$common
http {
  $http_common
  access_log $logs/$name.access.log combined;
  $cache_zone
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$port ssl http2 reuseport backlog=4096;
    ssl_certificate $RUN/tls/tls.crt;
    ssl_certificate_key $RUN/tls/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1d;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      $cache_directives
    }
  }
}
EOF
}

# ---------------------------------------------------------------- servers
declare -A PORT=() PIDS=()
# per server: the files it writes to ("label:path ..."), and the log lines it should write per request (1: its
# access log; 0: none); measure() counts those lines, progress.py checks them (the log check)
declare -A LOG_FILES=() LOG_EXPECTED=()

start_nginx() { # name kind port
  write_nginx_conf "$1" "$2" "$3"
  nginx -t -q -p "$RUN/$1" -c "$RUN/$1/nginx.conf" 2>&1 | grep -v "^$" >&2 && die "nginx config of $1 is invalid"
  # >>: opened with O_APPEND, so that emptying the file between measurements leaves no hole
  taskset -c "$SERVER_CPU" nginx -p "$RUN/$1" -c "$RUN/$1/nginx.conf" -g 'daemon off;' \
    >> "$CAPTURE/$1.out" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  PIDS[$1]="$pid"
  PORT[$1]="$3"
  if [ "$2" != origin ]; then
    LOG_FILES[$1]="access.log:$CAPTURE/$1.access.log error.log:$CAPTURE/$1.error.log stdout+stderr:$CAPTURE/$1.out"
    LOG_EXPECTED[$1]=1
  fi
}

# sidecar_env name port adminport [extra VAR=value ...]: the environment for one sidecar instance
sidecar_env() {
  local port="$2" admin="$3"
  shift 3
  echo "ASPNETCORE_ENVIRONMENT=Production" \
    "Sidecar__Hosting__HttpsPort=$port" "Sidecar__Hosting__AdminPort=$admin" \
    "Sidecar__Hosting__ListenAddress=127.0.0.1" "Sidecar__Hosting__AdminListenAddress=127.0.0.1" \
    "Sidecar__Upstream__Address=http://127.0.0.1:$ORIGIN_PORT" \
    "Sidecar__Tls__CertificatePath=$RUN/tls/tls.crt" "Sidecar__Tls__KeyPath=$RUN/tls/tls.key" "$@"
}

# sidecar_cmd dir: the command that starts a published sidecar in dir: `dotnet ProxySidecar.dll`, or the
# native executable when dir holds a Native AOT publish (no ProxySidecar.dll there), or the floor (bench/floor)
sidecar_cmd() {
  if [ -f "$1/ProxySidecar.dll" ]; then echo "dotnet ProxySidecar.dll"
  elif [ -f "$1/Floor.dll" ]; then echo "dotnet Floor.dll"
  elif [ -x "$1/Floor" ]; then echo "./Floor"
  else echo "./ProxySidecar"; fi
}

start_sidecar() { # name port adminport [VAR=value ...]; SIDECAR_DIR overrides the published directory
  local name="$1" port="$2" admin="$3" dir="${SIDECAR_DIR:-$PUBLISH}"
  shift 3
  mkdir -p "$CAPTURE"
  # stdout (the JSON console log, access log included) and stderr go to files on tmpfs, like nginx's logs,
  # opened with O_APPEND (>>) so that measure() can empty them between measurements and count the lines.
  # shellcheck disable=SC2046
  (cd "$dir" && exec env $(sidecar_env "$name" "$port" "$admin" "$@") \
    taskset -c "$SERVER_CPU" $(sidecar_cmd "$dir") >> "$CAPTURE/$name.stdout" 2>> "$CAPTURE/$name.stderr") &
  local pid=$!
  STARTED_PIDS+=("$pid")
  PIDS[$name]="$pid"
  PORT[$name]="$port"
  LOG_FILES[$name]="stdout:$CAPTURE/$name.stdout stderr:$CAPTURE/$name.stderr"
  # the floor logs nothing; the sidecar one access-log line per request unless it is turned off
  LOG_EXPECTED[$name]=1
  case "$(sidecar_cmd "$dir") $*" in
    *Floor*|*Sidecar__AccessLog__Enabled=[Ff]alse*|*LogLevel__ProxySidecar.AccessLog=[WwEeCcNn]*) LOG_EXPECTED[$name]=0 ;;
  esac
}

empty_logs() { # name: empties the files the server writes to
  local entry
  for entry in ${LOG_FILES[$1]:-}; do : > "${entry#*:}"; done
}

count_logs() { # name -> "lines<TAB>label:lines:path,...<TAB>expected lines per request" (empty fields: not counted)
  local entry n total=0 detail=""
  [ -n "${LOG_FILES[$1]:-}" ] || { printf '\t\t'; return; }
  for entry in ${LOG_FILES[$1]}; do
    n="$(wc -l < "${entry#*:}" 2>/dev/null || echo 0)"
    total=$((total + n))
    detail="$detail${detail:+,}${entry%%:*}:$n:${entry#*:}"
  done
  printf '%s\t%s\t%s' "$total" "$detail" "${LOG_EXPECTED[$1]:-1}"
}

wait_https() { # name path
  local url="https://127.0.0.1:${PORT[$1]}$2"
  for _ in $(seq 1 300); do
    if [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)" = 200 ]; then return 0; fi
    kill -0 "${PIDS[$1]}" 2>/dev/null || { cat "$CAPTURE/$1".* >&2 2>/dev/null || true; die "$1 exited during start-up"; }
    sleep 0.1
  done
  die "$1 did not answer 200 on $url within 30 s"
}

# every PID of a server: the process and its children (nginx workers)
server_pids() {
  local pid="${PIDS[$1]}"
  echo "$pid" "$(pgrep -P "$pid" 2>/dev/null | xargs)"
}

cpu_ticks() { # name -> utime+stime of the server's processes, in clock ticks
  local total=0 pid
  for pid in $(server_pids "$1"); do
    [ -r "/proc/$pid/stat" ] || continue
    # fields after the ")" of the command name: state is 3, utime 14, stime 15
    total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

mem_kb() { # name field(VmRSS|VmHWM|RssAnon) -> sum over the server's processes
  local total=0 pid v
  for pid in $(server_pids "$1"); do
    v="$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

origin_requests() {
  curl -s "http://127.0.0.1:$ORIGIN_PORT/nginx_status" | awk 'NR == 3 {print $3}'
}

# ---------------------------------------------------------------- load
scenario_path() { case "$1" in *json*) echo /64k.json ;; *64k*) echo /64k.bin ;; *) echo /1k.bin ;; esac; }

# the contenders of a scenario, in the order they are measured in every round: the baseline (nginx) first,
# then the floors, then the sidecar and its variants, so that each progress line can give its ratios
scenario_contenders() {
  local c build
  case "$1" in
    *-br-hit) echo "nginx-cache sidecar-cache" ;;
    *-hit)
      c="nginx-cache"
      if [ "$FLOOR" = 1 ]; then for build in $FLOOR_BUILDS; do c="$c floor-$build-cache"; done; fi
      echo "$c sidecar-cache" ;;
    newconn-*)
      # the floor of the sidecar's own build: what a resumed TLS connection costs Kestrel + YARP alone
      c="nginx"
      if [ "$FLOOR" = 1 ] && [[ " $FLOOR_BUILDS " == *" $BUILD "* ]]; then c="$c floor-$BUILD"; fi
      echo "$c sidecar" ;;
    new*) echo "nginx sidecar" ;;
    *)
      c="nginx"
      if [ "$FLOOR" = 1 ]; then for build in $FLOOR_BUILDS; do c="$c floor-$build"; done; fi
      c="$c sidecar"
      [ "$1" = h1-1k ] && [ "$NOLOG_VARIANT" = 1 ] && c="$c sidecar-nolog"
      echo "$c ${VARIANT_NAMES[*]}" ;;
  esac
}

# SIDECAR_VARIANT_ENV -> VARIANT_NAMES (contenders) and VARIANT_ENV[name] (their variables)
declare -a VARIANT_NAMES=()
declare -A VARIANT_ENV=()
parse_variants() {
  local specs spec name envs i=0
  IFS=';' read -ra specs <<< "$SIDECAR_VARIANT_ENV"
  local count=0
  for spec in "${specs[@]}"; do [ -n "${spec//[[:space:]]/}" ] && count=$((count + 1)); done
  [ "$count" -le 10 ] || die "SIDECAR_VARIANT_ENV: at most 10 variants"
  for spec in "${specs[@]}"; do
    spec="$(echo "$spec" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')"
    [ -n "$spec" ] || continue
    i=$((i + 1))
    name="" envs="$spec"
    if [[ "$spec" =~ ^([A-Za-z0-9_.-]+):(.*)$ ]]; then name="${BASH_REMATCH[1]}"; envs="${BASH_REMATCH[2]}"; fi
    if [ -z "$name" ]; then name="variant"; [ "$count" -gt 1 ] && name="variant$i"; fi
    name="sidecar-$name"
    case "$name" in sidecar-nolog|sidecar-cache|*-cache) die "SIDECAR_VARIANT_ENV: the name ${name#sidecar-} is taken; choose another" ;; esac
    [ -z "${VARIANT_ENV[$name]+set}" ] || die "SIDECAR_VARIANT_ENV: two variants named ${name#sidecar-}"
    [ -n "$envs" ] || die "SIDECAR_VARIANT_ENV: variant ${name#sidecar-} sets no variable"
    local var
    for var in $envs; do
      [[ "$var" == *=* ]] || die "SIDECAR_VARIANT_ENV: '$var' in variant ${name#sidecar-} is not VAR=value"
      # the Native AOT build has no JIT: settings of the JIT and its tiers do nothing there
      if [ "$AOT" = 1 ]; then
        case "$var" in
          DOTNET_TieredPGO=*|DOTNET_TieredCompilation=*|DOTNET_TC_*|DOTNET_ReadyToRun=*|DOTNET_OSR_*|DOTNET_JitStdOutFile=*)
            die "SIDECAR_VARIANT_ENV: ${var%%=*} does nothing in the Native AOT build (no JIT); run this A/B with AOT=0" ;;
        esac
      fi
    done
    VARIANT_NAMES+=("$name")
    VARIANT_ENV[$name]="$envs"
  done
}

run_load() { # scenario contender seconds outfile
  local url
  url="https://127.0.0.1:${PORT[$2]}$(scenario_path "$1")"
  case "$1" in
    h1-*-br-*) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${3}s" --latency -H "Accept-Encoding: br, gzip" "$url" > "$4" 2>&1 ;;
    h1-*) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${3}s" --latency "$url" > "$4" 2>&1 ;;
    newconn-*) taskset -c "$LOAD_CPU" wrk -t1 -c"$NEWCONN_CONNS" -d"${3}s" --latency -H "Connection: close" "$url" > "$4" 2>&1 ;;
    h2-*) taskset -c "$LOAD_CPU" h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" -D "$3" --log-file="$4.log" "$url" > "$4" 2>&1 ;;
    newfull-*)
      # openssl s_time -new: a full handshake for every connection, one HTTP/1.0 GET each, sequential per process
      local i pids=()
      for i in $(seq 1 "$FULL_CLIENTS"); do
        taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:${PORT[$2]}" -new -time "$3" \
          -www "$(scenario_path "$1")" > "$4.$i" 2>&1 &
        pids+=($!)
      done
      wait "${pids[@]}" || true
      cat "$4".[0-9]* > "$4"
      rm -f "$4".[0-9]* ;;
  esac
}

LOG_CHECK_FAILED=0

measure() { # scenario contender round seconds kind(round|warmup)
  local out="$RUN/raw/$1.$2.$5$3.txt"
  local cpu0 cpu1 o0 o1 t0 t1
  local load_cpu logs rc=0
  empty_logs "$2"
  o0="$(origin_requests)"; cpu0="$(cpu_ticks "$2")"; t0="$(date +%s%N)"
  # user + system seconds of the load generator, to tell when it, not the server, was the limit
  load_cpu="$( { TIMEFORMAT='%U %S'; time run_load "$1" "$2" "$4" "$out" || true; } 2>&1 | awk '{print $1 + $2}')"
  t1="$(date +%s%N)"; cpu1="$(cpu_ticks "$2")"; o1="$(origin_requests)"
  logs="$(count_logs "$2")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$5" "$1" "$2" "$3" "$((cpu1 - cpu0))" "$((o1 - o0))" "$(( (t1 - t0) / 1000000 ))" "$out" "$load_cpu" "$logs" >> "$RUN/measurements.tsv"
  # the progress line (stdout) and the log check (exit code 3 and an error on stderr)
  "$PYTHON" "$BENCH_DIR/lib/progress.py" "$RUN" "$ROUNDS" "$BUILD" "$LOG_SLACK" || rc=$?
  case "$rc" in
    0) ;;
    3) LOG_CHECK_FAILED=1 ;;
    *) log "progress.py failed ($rc) on the last line of $RUN/measurements.tsv" ;;
  esac
}

# every port this run listens on must be free (another run, or another service, would skew the figures)
check_ports() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is already in use (another benchmark still running?); stop it or set PORT_BASE"
    fi
  done
}

# the start banner: what will be measured and about how long it takes (builds apart)
banner() {
  local contenders="$1" scenario n per_round=0 measurements startup seconds builds=""
  for scenario in $SCENARIOS; do
    n="$(scenario_contenders "$scenario" | wc -w)"
    per_round=$((per_round + n))
  done
  measurements=$((per_round * ROUNDS))
  startup=$((STARTS * ($([ "$AOT" = 1 ] && echo 3 || echo 4) + 3 + $([ "$FLOOR" = 1 ] && echo 2 || echo 0))))
  # ~1 s per measurement for the tools, the counters and the progress line; ~15 s to start the contenders
  seconds=$((startup + 15 + $(echo "$contenders" | wc -w) * (WARMUP + 1) + per_round * WARMUP_EACH + measurements * (DURATION + 1) + 10))
  if [ "$SKIP_BUILD" != 1 ]; then
    builds=" + publishing the sidecar$([ "$FLOOR" = 1 ] && echo " and the floor ($FLOOR_BUILDS)") (2–5 min per Native AOT compile)"
  fi
  printf 'bench: %s build, %s scenarios, %s contenders (%s), %s measurements of %s s, %s round(s); planned ~%s min%s\n' \
    "${BUILD^^}" "$(echo "$SCENARIOS" | wc -w)" "$(echo "$contenders" | wc -w)" "$(echo "$contenders" | xargs)" \
    "$measurements" "$DURATION" "$ROUNDS" "$(( (seconds + 59) / 60 ))" "$builds"
}

prune_results() { # keeps the newest KEEP_RUNS result sets (<stamp>.md/.json/.png) in RESULTS_DIR
  local stamps=() file stamp old
  for file in "$RESULTS_DIR"/[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9].*; do
    [ -e "$file" ] || continue
    stamp="$(basename "$file")"
    stamps+=("${stamp%%.*}")
  done
  [ "${#stamps[@]}" -gt 0 ] || return 0
  for old in $(printf '%s\n' "${stamps[@]}" | sort -u | head -n -"$KEEP_RUNS"); do
    rm -f "$RESULTS_DIR/$old".md "$RESULTS_DIR/$old".json "$RESULTS_DIR/$old".png
    log "removed the results of run $old from $RESULTS_DIR (older runs stay in git history)"
  done
}

# ---------------------------------------------------------------- main
main() {
  parse_variants
  local build contenders_planned="nginx nginx-cache sidecar sidecar-cache"
  [ "$NOLOG_VARIANT" = 1 ] && contenders_planned="$contenders_planned sidecar-nolog"
  if [ "$FLOOR" = 1 ]; then
    for build in $FLOOR_BUILDS; do contenders_planned="$contenders_planned floor-$build floor-$build-cache"; done
  fi
  contenders_planned="$contenders_planned ${VARIANT_NAMES[*]}"
  banner "$contenders_planned"

  # shellcheck disable=SC2046
  check_ports "$ORIGIN_PORT" "$NGINX_PORT" "$NGINX_CACHE_PORT" "$SIDECAR_PORT" "$SIDECAR_CACHE_PORT" \
    "$SIDECAR_NOLOG_PORT" "$STARTUP_PORT" "${FLOOR_PORT[@]}" "${FLOOR_CACHE_PORT[@]}" \
    $(seq "$VARIANT_PORT_BASE" "$((VARIANT_PORT_BASE + 9))") $(seq "$ADMIN_BASE" "$((ADMIN_BASE + 19))")
  ensure_tools
  prepare_files
  publish_sidecar
  if [ "$FLOOR" = 1 ]; then
    for build in $FLOOR_BUILDS; do publish_floor "$build"; done
  fi
  local started_at
  started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

  start_nginx origin origin "$ORIGIN_PORT"
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/1k.bin" && break; sleep 0.1; done
  [ "$(curl -s "http://127.0.0.1:$ORIGIN_PORT/1k.bin" | wc -c)" = 1024 ] || die "the origin does not serve /1k.bin"

  log "start-up time and idle memory, $STARTS starts each"
  # shellcheck disable=SC2046
  "$PYTHON" "$BENCH_DIR/lib/startup.py" --runs "$STARTS" --cpu "$SERVER_CPU" --name sidecar \
    --url "https://127.0.0.1:$STARTUP_PORT/1k.bin" --cwd "$PUBLISH" \
    --env "$(sidecar_env startup "$STARTUP_PORT" "$((ADMIN_BASE + 9))")" -- $(sidecar_cmd "$PUBLISH") \
    >> "$RUN/startup.jsonl"
  if [ "$FLOOR" = 1 ] && [[ " $FLOOR_BUILDS " == *" $BUILD "* ]]; then
    # shellcheck disable=SC2046
    "$PYTHON" "$BENCH_DIR/lib/startup.py" --runs "$STARTS" --cpu "$SERVER_CPU" --name "floor ($BUILD)" \
      --url "https://127.0.0.1:$STARTUP_PORT/1k.bin" --cwd "${FLOOR_PUBLISH[$BUILD]}" \
      --env "$(sidecar_env startup "$STARTUP_PORT" "$((ADMIN_BASE + 9))") Sidecar__Cache__Enabled=false" \
      -- $(sidecar_cmd "${FLOOR_PUBLISH[$BUILD]}") >> "$RUN/startup.jsonl"
  fi
  write_nginx_conf nginx-startup proxy "$STARTUP_PORT"
  "$PYTHON" "$BENCH_DIR/lib/startup.py" --runs "$STARTS" --cpu "$SERVER_CPU" --name nginx \
    --url "https://127.0.0.1:$STARTUP_PORT/1k.bin" --cwd "$RUN" --env "" -- \
    nginx -p "$RUN/nginx-startup" -c "$RUN/nginx-startup/nginx.conf" -g 'daemon off;' \
    >> "$RUN/startup.jsonl"

  log "starting the contenders"
  start_nginx nginx proxy "$NGINX_PORT"
  start_nginx nginx-cache cache "$NGINX_CACHE_PORT"
  start_sidecar sidecar "$SIDECAR_PORT" "$((ADMIN_BASE + 5))" Sidecar__Cache__Enabled=false
  start_sidecar sidecar-cache "$SIDECAR_CACHE_PORT" "$((ADMIN_BASE + 6))" Sidecar__Cache__Enabled=true
  [ "$NOLOG_VARIANT" = 1 ] && start_sidecar sidecar-nolog "$SIDECAR_NOLOG_PORT" "$((ADMIN_BASE + 7))" \
    Sidecar__Cache__Enabled=false Sidecar__AccessLog__Enabled=false
  if [ "$FLOOR" = 1 ]; then
    for build in $FLOOR_BUILDS; do
      SIDECAR_DIR="${FLOOR_PUBLISH[$build]}" start_sidecar "floor-$build" "${FLOOR_PORT[$build]}" 0 Sidecar__Cache__Enabled=false
      SIDECAR_DIR="${FLOOR_PUBLISH[$build]}" start_sidecar "floor-$build-cache" "${FLOOR_CACHE_PORT[$build]}" 0 Sidecar__Cache__Enabled=true
    done
  fi
  local i=0 variant
  : > "$RUN/contenders.tsv"
  for variant in "${VARIANT_NAMES[@]}"; do
    # shellcheck disable=SC2086
    start_sidecar "$variant" "$((VARIANT_PORT_BASE + i))" "$((ADMIN_BASE + 10 + i))" \
      Sidecar__Cache__Enabled=false ${VARIANT_ENV[$variant]}
    printf '%s\tsidecar with %s\n' "$variant" "${VARIANT_ENV[$variant]}" >> "$RUN/contenders.tsv"
    i=$((i + 1))
  done
  local name contenders=""
  for name in "${!PIDS[@]}"; do
    [ "$name" = origin ] && continue
    wait_https "$name" /1k.bin
    wait_https "$name" /64k.bin
    wait_https "$name" /64k.json
    contenders="$contenders $name"
  done
  sleep 2
  : > "$RUN/memory.tsv"
  for name in $contenders; do
    printf 'idle\t%s\t%s\n' "$name" "$(mem_kb "$name" VmRSS)" >> "$RUN/memory.tsv"
    printf 'idle_anon\t%s\t%s\n' "$name" "$(mem_kb "$name" RssAnon)" >> "$RUN/memory.tsv"
  done

  : > "$RUN/measurements.tsv"
  local scenario contender round
  log "warm-up: ${WARMUP} s of keep-alive 1 KiB per contender, then ${WARMUP_EACH} s per scenario"
  for contender in $contenders; do
    case "$contender" in *cache) scenario=h1-1k-hit ;; *) scenario=h1-1k ;; esac
    measure "$scenario" "$contender" 0 "$WARMUP" warmup
  done
  for scenario in $SCENARIOS; do
    for contender in $(scenario_contenders "$scenario"); do
      run_load "$scenario" "$contender" "$WARMUP_EACH" "$RUN/raw/$scenario.$contender.warmup-each.txt" || true
    done
  done

  for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for scenario in $SCENARIOS; do
      for contender in $(scenario_contenders "$scenario"); do
        measure "$scenario" "$contender" "$round" "$DURATION" round
      done
    done
  done

  for name in $contenders; do
    {
      printf 'peak\t%s\t%s\n' "$name" "$(mem_kb "$name" VmHWM)"
      printf 'end\t%s\t%s\n' "$name" "$(mem_kb "$name" VmRSS)"
      printf 'end_anon\t%s\t%s\n' "$name" "$(mem_kb "$name" RssAnon)"
    } >> "$RUN/memory.tsv"
  done
  cleanup

  local stamp rc=0
  stamp="$(date -u +%Y%m%d-%H%M%S)"
  mkdir -p "$RESULTS_DIR"
  "$PYTHON" "$BENCH_DIR/lib/report.py" --run "$RUN" --out "$RESULTS_DIR/$stamp" \
    --started "$started_at" --repo "$REPO_DIR" --build "$BUILD" --log-slack "$LOG_SLACK" \
    --settings "DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP WARMUP_EACH=$WARMUP_EACH CONNS=$CONNS H2_CLIENTS=$H2_CLIENTS H2_STREAMS=$H2_STREAMS NEWCONN_CONNS=$NEWCONN_CONNS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU AOT=$AOT FLOOR=$FLOOR$([ "$FLOOR" = 1 ] && echo " FLOOR_BUILDS=\"$FLOOR_BUILDS\"")${SIDECAR_VARIANT_ENV:+ SIDECAR_VARIANT_ENV=\"$SIDECAR_VARIANT_ENV\"}" \
    || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || die "report.py failed ($rc)"
  cat "$RESULTS_DIR/$stamp.md"
  if [ "$rc" = 3 ] || [ "$LOG_CHECK_FAILED" = 1 ]; then
    log "ERROR: INVALID run: a contender wrote more log lines than its access-log line per request (the list is at the top of $RESULTS_DIR/$stamp.md; the first lines in $RUN/logs/excess.*); latest.md not updated, no results removed"
    exit 2
  fi
  cp "$RESULTS_DIR/$stamp.md" "$RESULTS_DIR/latest.md"
  if [ -f "$RESULTS_DIR/$stamp.png" ]; then cp "$RESULTS_DIR/$stamp.png" "$RESULTS_DIR/latest.png"; fi
  prune_results
  log "written: $RESULTS_DIR/$stamp.md"
}

# sourced by bench/ab.sh for its helpers; run directly for the benchmark
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
