#!/usr/bin/env bash
# Installs everything (system packages, ./.venv, eoharvest with the `bench` extra, i.e. the
# baselines' libraries) and runs the benchmarks in bench/: `bash scripts/bench.sh` runs each with
# its defaults; `bash scripts/bench.sh harvest --items 10000,100000` runs one with arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" bench
PY="${EOHARVEST_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
if [ "$#" -gt 0 ]; then
    name="$1"
    shift
    exec "$PY" "bench/$name.py" "$@"
fi
for name in harvest catalog postgis download; do
    echo "== bench/$name.py"
    "$PY" "bench/$name.py"
done
# `eoharvest serve`: item-search latency over HTTP beside `catalog query` (100k and 1M scenes)
echo "== bench/serve.py"
"$PY" "bench/serve.py"
