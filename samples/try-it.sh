#!/usr/bin/env bash
# The cache at work, against the demo app (samples/DemoApp) behind a running sidecar: a miss, a hit, a
# revalidation, Vary, stale-while-revalidate, stale-if-error, the page that is never shared, and a purge.
# Start the two first (README.md, "Try it"):
#   dotnet run --project samples/DemoApp
#   Sidecar__Admin__PurgeToken=try-it-purge-token-0123456789 dotnet run --project src/ProxySidecar
# Each line shows a request through the sidecar: status, time taken and the Cache-Status header.
# Settings (environment): SIDECAR (https://localhost:8443), ADMIN (http://127.0.0.1:9901), PURGE_TOKEN.
set -euo pipefail

SIDECAR=${SIDECAR:-https://localhost:8443}
ADMIN=${ADMIN:-http://127.0.0.1:9901}
PURGE_TOKEN=${PURGE_TOKEN:-try-it-purge-token-0123456789}
# -k: in the Development environment the sidecar serves a generated, self-signed certificate.
CURL=(curl --silent --show-error --insecure --max-time 10)

# A number from the "cache" section of the sidecar's /status: entries, refreshing ...
cache_status() { "${CURL[@]}" "$ADMIN/status" | grep -o "\"$1\": *[0-9]*" | head -1 | tr -dc '0-9'; }
entries() { cache_status entries; }

# The sidecar writes an entry just after the response has gone to the client: wait (at most 5 s) until it
# holds more than $1 entries, so that the next request for the page finds it.
wait_for_entries_above() {
  for _ in $(seq 100); do
    [ "$(entries)" -gt "$1" ] && return 0
    sleep 0.05
  done
  echo "the sidecar did not store the page within 5 s" >&2
  return 1
}

# show LABEL PATH [curl options]: one GET through the sidecar; prints status, time and Cache-Status.
show() {
  local label=$1 path=$2
  shift 2
  local before out status time cache
  before=$(entries)
  out=$("${CURL[@]}" -o /dev/null -D - -w 'time=%{time_total}\n' "$@" "$SIDECAR$path")
  status=$(head -1 <<<"$out" | cut -d' ' -f2)
  time=$(grep '^time=' <<<"$out" | cut -d= -f2)
  cache=$(grep -i '^cache-status:' <<<"$out" | cut -d' ' -f2- | tr -d '\r')
  printf '%-26s %-9s %s  %5.3fs  %s\n' "$label" "$path" "$status" "$time" "$cache"
  case $cache in
    *-miss\;*stored*) wait_for_entries_above "$before" ;;
  esac
}

# purge QUERY: a purge on the admin port, with the token the sidecar was started with.
purge() {
  "${CURL[@]}" -X POST -H "Authorization: Bearer $PURGE_TOKEN" -w ' %{http_code}\n' "$ADMIN/cache/purge" "$@"
}

# Ready once the sidecar has a certificate and has reached the app (wait at most 5 s).
for _ in $(seq 50); do
  "${CURL[@]}" -o /dev/null --fail "$ADMIN/healthz/ready" 2>/dev/null && break
  sleep 0.1
done
if ! "${CURL[@]}" -o /dev/null --fail "$ADMIN/healthz/ready"; then
  echo "The sidecar is not ready at $ADMIN: start the demo app and the sidecar first (README.md, \"Try it\")." >&2
  exit 1
fi

# A background refresh still running from an earlier run would store its page after the purge below.
for _ in $(seq 100); do [ "$(cache_status refreshing)" -eq 0 ] && break; sleep 0.05; done
started=$(purge -d all=true)
if [ "${started##* }" != 200 ]; then
  echo "Emptying the cache was refused (${started##* }): start the sidecar with Sidecar__Admin__PurgeToken=$PURGE_TOKEN." >&2
  exit 1
fi
echo "(cache emptied, so that every run starts alike)"

echo "-- a miss, then a hit: /fresh is fresh for 60 s"
show "miss" /fresh
show "hit" /fresh

echo "-- a revalidation: /etag is stored but checked with the app (304) before each use"
show "miss" /etag
show "revalidated" /etag

echo "-- Vary: Accept-Language, one stored copy per language"
show "miss (en)" /vary -H 'Accept-Language: en'
show "miss (de)" /vary -H 'Accept-Language: de'
show "hit (en)" /vary -H 'Accept-Language: en'

echo "-- stale-while-revalidate: /slow takes a second, but only once"
show "miss" /slow
show "stale, refreshed behind" /slow

echo "-- stale-if-error: the app fails (X-Demo-Fail: 1), the stored page is served"
show "miss" /flaky
show "app fails: stale served" /flaky -H 'X-Demo-Fail: 1'

echo "-- never shared: /account, personalised by a session cookie"
printf '%-26s %s\n' "alice" "$("${CURL[@]}" -H 'Cookie: session=alice' "$SIDECAR/account")"
printf '%-26s %s\n' "bob" "$("${CURL[@]}" -H 'Cookie: session=bob' "$SIDECAR/account")"
printf '%-26s %s\n' "alice again" "$("${CURL[@]}" -H 'Cookie: session=alice' "$SIDECAR/account")"

echo "-- a purge of /fresh on the admin port, then a miss again"
printf '%-26s %s\n' "purge" "$(purge --data-urlencode "url=$SIDECAR/fresh")"
show "miss after the purge" /fresh
