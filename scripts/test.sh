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

(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@")

# AddressSanitizer + UBSan (clang, its own build dir of just the parser modules):
# the unit tests of the parsers, stores and signatures, then each fuzz target that
# needs no more than those for a few seconds. Any finding fails the run.
# CONCIERGE_SANITIZE=0 skips this part; scripts/fuzz.sh fuzzes every target, the
# whole-API one included, on a whole-library sanitizer build.
if [ "${CONCIERGE_SANITIZE:-1}" != 0 ]; then
  SANITIZE_DIR=${CONCIERGE_SANITIZE_BUILD_DIR:-$ROOT/build-sanitize-parsers}
  SANITIZED_TESTS=(config_test rekognition_model_test rekognition_sigv4_test notify_signature_test
                   store_database_test bus_topic_test image_io_test)
  FUZZ_TARGETS=(config_fuzz aws_request_fuzz image_header_fuzz sighting_fuzz)
  echo "[test] sanitizer build: ${SANITIZED_TESTS[*]}" >&2
  CONCIERGE_SANITIZE_PARSERS_ONLY=1 "$ROOT/scripts/sanitize-build.sh" "$SANITIZE_DIR" tests \
    "${SANITIZED_TESTS[@]}"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  for t in "${SANITIZED_TESTS[@]}"; do
    echo "[test] $t (ASan + UBSan)" >&2
    "$SANITIZE_DIR/tests/$t" --gtest_brief=1
  done
  CONCIERGE_SANITIZE_PARSERS_ONLY=1 CONCIERGE_SANITIZE_BUILD_DIR=$SANITIZE_DIR \
    "$ROOT/scripts/fuzz.sh" "${CONCIERGE_FUZZ_SECONDS:-5}" "${FUZZ_TARGETS[@]}"
fi
