#!/usr/bin/env bash
# Installs everything (system packages, ./.venv, eoharvest) and runs the main job.
# Arguments replace the default job's options.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
EOH="${EOHARVEST_VENV:-$ROOT/.venv}/bin/eoharvest"
# Markham, Ontario (the reference's example AOI).
MARKHAM='{"type": "Polygon", "coordinates": [[[-79.4, 43.8], [-79.3, 43.8], [-79.3, 43.9], [-79.4, 43.9], [-79.4, 43.8]]]}'
if [ "$#" -gt 0 ]; then
    exec "$EOH" "$@"
fi
"$EOH" --help
"$EOH" aoi check "$MARKHAM"
