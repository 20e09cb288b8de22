#!/usr/bin/env bash
# Installs everything (system packages, ./.venv, eoharvest) and runs the main job.
# With arguments it runs `eoharvest ARGS...` instead (e.g. `bash scripts/run.sh catalog stats`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
EOH="${EOHARVEST_VENV:-$ROOT/.venv}/bin/eoharvest"
if [ "$#" -gt 0 ]; then
    exec "$EOH" "$@"
fi
EOHARVEST_BIN="$EOH" exec bash "$ROOT/scripts/main_job.sh"
