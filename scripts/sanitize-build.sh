#!/usr/bin/env bash
# Configures and builds the AddressSanitizer + UBSan build (clang) in BUILD_DIR:
#   scripts/sanitize-build.sh BUILD_DIR fuzz [T...]  the libFuzzer targets (default: all in tests/fuzz)
#   scripts/sanitize-build.sh BUILD_DIR tests T...   the named test programs
# Shared by scripts/fuzz.sh and scripts/test.sh. CONCIERGE_SANITIZE_PARSERS_ONLY=1
# (a new BUILD_DIR only) builds just the parser modules: see CMakeLists.txt.
# -O1 with line tables: stack traces keep file:line, and the build is much quicker.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$1
what=$2
shift 2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
    -DCONCIERGE_SANITIZE=ON -DCONCIERGE_BUILD_FUZZ=ON -DCONCIERGE_BUILD_BENCH=OFF \
    -DCONCIERGE_SANITIZE_PARSERS_ONLY="${CONCIERGE_SANITIZE_PARSERS_ONLY:-0}" \
    "${launcher[@]}" >/dev/null
fi
jobs=${FUZZ_JOBS:-$(nproc)}
targets=("$@")
if [ "$what" = fuzz ] && ((${#targets[@]} == 0)); then
  for src in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
cmake --build "$BUILD_DIR" -j"$jobs" --target "${targets[@]}"
