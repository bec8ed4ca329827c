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

. "$here/bench/http_common.sh"
bench_init
export CONCIERGE_DATA_DIR="$work/data"
export CONCIERGE_HTTP_PORT="$port" CONCIERGE_HTTP_BIND=127.0.0.1
mkdir -p "$CONCIERGE_DATA_DIR/inbox"

bench_enrol_gallery
echo "== seeding $sightings sightings" >&2
"$seed" "$CONCIERGE_DATA_DIR" "$sightings" "$probe"
bench_api_token
bench_start_server

# A wrong token would measure 401s: check the request once first.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$port/api/v1/visits?limit=50"
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
bench_recognize_lua "$probe"

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
