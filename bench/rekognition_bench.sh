#!/usr/bin/env bash
# The Rekognition-compatible API under load with Debian's wrk against 127.0.0.1:
# SearchFacesByImage and IndexFaces (SigV4-signed AWS JSON, the image as
# base64 Bytes) beside POST /api/v1/recognize with the same photo, each with
# one client alone and then eight at once.
#   bench/rekognition_bench.sh [build-dir]      (default: build)
# Env: DURATION (wrk -d, default 20s), CONNECTIONS (default "1 8"), THREADS
# (wrk -t, default 2), PORT (default 18481), CONCIERGE_TEST_DATA.
# Requests are signed once per run with botocore (the python3 on PATH): a
# signature stays valid for aws.max_clock_skew_s (300 s), longer than a run.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
bin="$build/concierge"
data="${CONCIERGE_TEST_DATA:-$here/../shared/data}"
duration="${DURATION:-20s}"
connections="${CONNECTIONS:-1 8}"
threads="${THREADS:-2}"
port="${PORT:-18481}"
examples="$data/enroll/face_recognition/examples"
probe="$examples/obama.jpg"

for f in "$bin" "$probe"; do
  [ -e "$f" ] || { echo "rekognition_bench: missing $f (build concierge_cli)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "rekognition_bench: wrk is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "rekognition_bench: curl is not installed" >&2; exit 1; }
python3 -c 'import botocore' 2>/dev/null ||
  { echo "rekognition_bench: python3 has no botocore (apt-get install python3-boto3)" >&2; exit 1; }

. "$here/bench/http_common.sh"
bench_init
export CONCIERGE_DATA_DIR="$work/data"
export CONCIERGE_HTTP_PORT="$port" CONCIERGE_HTTP_BIND=127.0.0.1
export CONCIERGE_AWS_KEY_ENCRYPTION_SECRET="rekognition-bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
mkdir -p "$CONCIERGE_DATA_DIR/inbox"

bench_enrol_gallery
echo "== creating an access key" >&2
"$bin" --log-level error --json aws-key create --name bench >"$work/key.json"
bench_api_token
bench_start_server

# Writes a wrk script for one signed Rekognition call, after checking it once
# with curl (a bad signature would measure errors).
sign() {  # operation json-body-file lua-file
  python3 - "$1" "$2" "$3" "$work/key.json" "http://127.0.0.1:$port" <<'PY'
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
operation, body_file, lua_file, key_file, url = sys.argv[1:]
key = json.load(open(key_file))
body = open(body_file, "rb").read()
request = AWSRequest(method="POST", url=url + "/", data=body, headers={
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "RekognitionService." + operation})
SigV4Auth(Credentials(key["access_key_id"], key["secret_access_key"]), "rekognition",
          "us-east-1").add_auth(request)
with open(lua_file, "w") as lua:
    lua.write('wrk.method = "POST"\n')
    lua.write('local f = assert(io.open("%s", "rb"))\nwrk.body = f:read("*a")\nf:close()\n' % body_file)
    for name in ("Content-Type", "X-Amz-Target", "X-Amz-Date", "Authorization"):
        lua.write('wrk.headers["%s"] = "%s"\n' % (name, request.headers[name]))
    lua.write('done = function(summary, latency, requests)\n'
              '  io.write(string.format("non-2xx: %d\\n", summary.errors.status))\nend\n')
PY
  local headers=()
  while IFS= read -r line; do headers+=(-H "$line"); done < <(
    sed -n 's/^wrk.headers\["\(.*\)"\] = "\(.*\)"$/\1: \2/p' "$3")
  curl -fsS -o /dev/null "${headers[@]}" --data-binary "@$2" "http://127.0.0.1:$port/"
}

b64="$(base64 -w0 "$probe")"
printf '{"CollectionId":"default","Image":{"Bytes":"%s"},"MaxFaces":1,"FaceMatchThreshold":70}' \
  "$b64" >"$work/search.json"
printf '{"CollectionId":"default","Image":{"Bytes":"%s"},"DetectionAttributes":["DEFAULT"]}' \
  "$b64" >"$work/index.json"

bench_recognize_lua "$probe"

echo "== uptime before: $(uptime)"
for c in $connections; do
  t=$((threads < c ? threads : c))  # wrk needs at least one connection per thread
  sign SearchFacesByImage "$work/search.json" "$work/search.lua"
  echo "== SearchFacesByImage ($(basename "$probe") as Bytes, $(stat -c %s "$work/search.json") bytes, $c connections)"
  wrk -t"$t" -c"$c" -d"$duration" --latency -s "$work/search.lua" "http://127.0.0.1:$port/"
  sign IndexFaces "$work/index.json" "$work/index.lua"
  echo "== IndexFaces (the same photo into the office collection, $c connections)"
  wrk -t"$t" -c"$c" -d"$duration" --latency -s "$work/index.lua" "http://127.0.0.1:$port/"
  echo "== POST /api/v1/recognize ($(basename "$probe"), $(stat -c %s "$probe") bytes, $c connections)"
  wrk -t"$t" -c"$c" -d"$duration" --latency -s "$work/recognize.lua" \
    "http://127.0.0.1:$port/api/v1/recognize"
done
echo "== uptime after: $(uptime)"
