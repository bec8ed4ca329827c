#!/usr/bin/env bash
# Configures and builds the AddressSanitizer + UBSan build (clang) in BUILD_DIR:
#   scripts/sanitize-build.sh BUILD_DIR fuzz        the libFuzzer targets (tests/fuzz)
#   scripts/sanitize-build.sh BUILD_DIR tests T...  the named test programs
# Shared by scripts/fuzz.sh and scripts/test.sh, so both use one build.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$1
what=$2
shift 2
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCONCIERGE_SANITIZE=ON -DCONCIERGE_BUILD_FUZZ=ON -DCONCIERGE_BUILD_BENCH=OFF \
    "${launcher[@]}" >/dev/null
fi
jobs=${FUZZ_JOBS:-$(nproc)}
if [ "$what" = fuzz ]; then
  targets=()
  for src in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
else
  targets=("$@")
fi
cmake --build "$BUILD_DIR" -j"$jobs" --target "${targets[@]}"
