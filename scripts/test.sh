#!/usr/bin/env bash
# Sets up (idempotent), builds, and runs every test with CTest. The tests
# start their own mosquitto, PostgreSQL, S3 and HTTP servers on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${CONCIERGE_BUILD_DIR:-$ROOT/build}
export CONCIERGE_TEST_DATA=${CONCIERGE_TEST_DATA:-$(cd "$ROOT/.." && pwd)/shared/data}

"$ROOT/scripts/setup.sh"

# The fake S3 server the S3ObjectStore tests run against (npm, pinned by its lock file).
if [ ! -d "$ROOT/tests/s3rver/node_modules/s3rver" ] ||
   [ "$ROOT/tests/s3rver/package-lock.json" -nt "$ROOT/tests/s3rver/node_modules/.package-lock.json" ]; then
  echo "[test] installing test tools from npm (tests/s3rver)" >&2
  (cd "$ROOT/tests/s3rver" && npm ci --silent --no-audit --no-fund)
fi

if [ ! -f "$CONCIERGE_TEST_DATA/lfw/pairs.txt" ]; then
  printf '\n\033[1;31m*** FACE DATA MISSING at %s: data-driven tests will SKIP ***\033[0m\n\n' \
    "$CONCIERGE_TEST_DATA" >&2
fi

cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
