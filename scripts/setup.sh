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
  libzip-dev  # person data export (GDPR access request ZIP)
  libturbojpeg0-dev libexif-dev  # JPEG without OpenCV's imgcodecs (vision/media_plugin.h)
  libgtest-dev libgmock-dev libbenchmark-dev wrk curl
  libdlib-dev libopenblas0-serial  # dlib embedder; the serial BLAS starts no threads before main
  systemd  # systemd-analyze, for the package test (tests/package)
  clang libclang-rt-14-dev  # the sanitizer and libFuzzer build (scripts/fuzz.sh)
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad  # RTSP camera in tests
  chromium  # headless, for the browser tests (tests/browser); never a downloaded browser
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

# The web UI (web/dist, served by the binary): npm ci when the lockfile changed,
# a build when a source is newer than the last one.
build_web() {
  local web="$ROOT/web"
  if [ ! -f "$web/node_modules/.package-lock.json" ] ||
     [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    log "installing the web UI's npm packages"
    (cd "$web" && npm ci --silent --no-audit --no-fund)
  fi
  if [ -f "$web/dist/index.html" ] && [ -z "$(find "$web/src" "$web/index.html" \
       "$web/package-lock.json" "$web/tsconfig.json" "$web/vite.config.js" \
       -newer "$web/dist/index.html" -print -quit)" ]; then
    return
  fi
  log "building the web UI in web/dist"
  (cd "$web" && npm run --silent build)
}

install_packages
"$ROOT/scripts/fetch-models.sh"
build_web

log "building in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
log "ready: $BUILD_DIR/concierge"
