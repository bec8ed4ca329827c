#!/usr/bin/env bash
# HTTP API latency with Debian's wrk against 127.0.0.1: GET /api/v1/visits (the
# timeline) and POST /api/v1/recognize (a real face photo), on a data dir seeded
# with $SIGHTINGS sightings (default 100000) by bench/seed_sightings_bench.cc.
#   bench/http_bench.sh [build-dir]      (default: build)
# Env: SIGHTINGS, DURATION (wrk -d, default 20s), CONNECTIONS (wrk -c for each run,
# default "1 8": one client alone, then eight at once),
# THREADS (wrk -t, default 2), PORT (default 18480), CONCIERGE_TEST_DATA.
# Prints wrk's output (with --latency percentiles) for each endpoint.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
bin="$build/concierge"
seed="$build/bench/seed_sightings_bench"
data="${CONCIERGE_TEST_DATA:-$here/../shared/data}"
sightings="${SIGHTINGS:-100000}"
duration="${DURATION:-20s}"
connections="${CONNECTIONS:-1 8}"
threads="${THREADS:-2}"
port="${PORT:-18480}"
examples="$data/enroll/face_recognition/examples"
probe="$examples/obama.jpg"

for f in "$bin" "$seed" "$probe"; do
  [ -e "$f" ] || { echo "http_bench: missing $f (build concierge and seed_sightings_bench)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "http_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "http_bench: curl is not installed" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export CONCIERGE_DATA_DIR="$work/data"
export CONCIERGE_HTTP_PORT="$port" CONCIERGE_HTTP_BIND=127.0.0.1
mkdir -p "$CONCIERGE_DATA_DIR/inbox"

echo "== enrolling the gallery" >&2
"$bin" --log-level error enroll --largest --person lin-manuel --name "Lin-Manuel Miranda" \
  "$examples/lin-manuel-miranda.png" >/dev/null
"$bin" --log-level error enroll --largest --person alex --name "Alex Lacamoire" \
  "$examples/alex-lacamoire.png" >/dev/null
for person in "$examples"/knn_examples/train/*/; do
  name="$(basename "$person")"
  "$bin" --log-level error enroll --largest --person "${name//_/-}" "$person" >/dev/null
done

echo "== seeding $sightings sightings" >&2
"$seed" "$CONCIERGE_DATA_DIR" "$sightings" "$probe"

echo "== creating an admin and an API token" >&2
password="bench-$(date +%s)-pass"
printf '%s\n' "$password" | "$bin" --log-level error user add bench --role admin --password-stdin >/dev/null
token="$("$bin" --log-level error token create wrk --user bench 2>/dev/null)"
[ -n "$token" ] || { echo "http_bench: no API token" >&2; exit 1; }

echo "== starting concierge run on 127.0.0.1:$port" >&2
"$bin" --log-level warn run >"$work/run.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/run.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "http_bench: not ready" >&2; exit 1; }

# A wrong token would measure 401s: check both requests once first.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$port/api/v1/visits?limit=50"
curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: image/jpeg' \
  --data-binary "@$probe" "http://127.0.0.1:$port/api/v1/recognize"

cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
cat >"$work/recognize.lua" <<LUA
local f = assert(io.open("$probe", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Content-Type"] = "image/jpeg"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA

echo "== uptime before: $(uptime)"
for c in $connections; do
  t=$((threads < c ? threads : c))  # wrk needs at least one connection per thread
  echo "== GET /api/v1/visits?limit=50 ($sightings sightings, $c connections)"
  wrk -t"$t" -c"$c" -d"$duration" --latency -s "$work/get.lua" \
    "http://127.0.0.1:$port/api/v1/visits?limit=50"
  echo "== POST /api/v1/recognize ($(basename "$probe"), $(stat -c %s "$probe") bytes, $c connections)"
  wrk -t"$t" -c"$c" -d"$duration" --latency -s "$work/recognize.lua" \
    "http://127.0.0.1:$port/api/v1/recognize"
done
echo "== uptime after: $(uptime)"
