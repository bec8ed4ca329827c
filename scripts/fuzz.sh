#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, AddressSanitizer and
# UBSan in their own build dir, then runs each for SECONDS (default 60) from
# its seed corpus (tests/fuzz/corpus/<target>/). New inputs go to a scratch
# corpus under the build dir, never into the repository. Exits non-zero on
# the first finding; the crashing input is left in the build dir.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Env: CONCIERGE_SANITIZE_BUILD_DIR (default build-sanitize), FUZZ_RUNS (-runs=N
# instead of a time limit), FUZZ_JOBS (parallel build jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${1:-60}
shift || true
BUILD_DIR=${CONCIERGE_SANITIZE_BUILD_DIR:-$ROOT/build-sanitize}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in "$ROOT"/tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
"$ROOT/scripts/sanitize-build.sh" "$BUILD_DIR" fuzz "${targets[@]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  scratch="$BUILD_DIR/fuzz-corpus/$t"
  mkdir -p "$scratch" "$BUILD_DIR/fuzz-findings"
  limit=(-max_total_time="$SECONDS_EACH")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  echo "[fuzz] $t: ${limit[*]}" >&2
  log="$BUILD_DIR/fuzz-findings/$t.log"
  if ! "$BUILD_DIR/tests/fuzz/$t" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$BUILD_DIR/fuzz-findings/$t-" \
      "$scratch" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[fuzz] $t found a problem; input and log in $BUILD_DIR/fuzz-findings" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done )' "$log" >&2 || true
done
