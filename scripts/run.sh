#!/usr/bin/env bash
# Sets up (idempotent) and runs Concierge in its embedded default: one
# process, SQLite, files under the data directory, photos dropped into
# <data-dir>/inbox. Extra arguments go to `concierge run`.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/scripts/setup.sh"
export CONCIERGE_DATA_DIR=${CONCIERGE_DATA_DIR:-$(pwd)/concierge-data}
exec "$(pwd)/build/concierge" run "$@"
