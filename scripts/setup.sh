#!/usr/bin/env bash
# Sets up Concierge on Debian 12 as root: apt packages, the verified model pack,
# and a Release build in ./build. Safe to run again; finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${CONCIERGE_BUILD_DIR:-$ROOT/build}

APT_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libopencv-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libsodium-dev
  libmosquitto-dev mosquitto mosquitto-clients libpqxx-dev postgresql
  libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libhnswlib-dev
  libgtest-dev libgmock-dev libbenchmark-dev wrk
)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]})); then
    log "installing apt packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_packages
"$ROOT/scripts/fetch-models.sh"

log "building in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
log "ready: $BUILD_DIR/concierge"
