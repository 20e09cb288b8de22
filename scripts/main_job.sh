#!/usr/bin/env bash
# The main job: Sentinel-2 L2A over Markham, Ontario (the reference's example AOI), ten days,
# at most 30 % cloud, the true-colour `visual` asset of up to 3 scenes, from Earth Search (no
# credentials). Search results go into the catalog; downloads are verified against the STAC
# checksums. Point it elsewhere with EOHARVEST_STAC_URL, EOHARVEST_CATALOG, EOHARVEST_DOWNLOAD_DIR.
set -euo pipefail
EOH="${EOHARVEST_BIN:-eoharvest}"
MARKHAM='{"type": "Polygon", "coordinates": [[[-79.4, 43.8], [-79.3, 43.8], [-79.3, 43.9], [-79.4, 43.9], [-79.4, 43.8]]]}'
exec "$EOH" harvest --platform Sentinel-2 --aoi "$MARKHAM" --start 2024-06-01 --end 2024-06-10 \
    --cloud-max 30 --assets visual --limit 3 "$@"
