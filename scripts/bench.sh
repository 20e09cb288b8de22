#!/usr/bin/env bash
# Installs everything (system packages, ./.venv, eoharvest with the `bench` extra, i.e. the
# baselines' libraries, and the baseline tools: ogr2ogr from gdal-bin, the sqlite3 shell, GNU
# time for peak RSS) and runs the benchmarks in bench/: `bash scripts/bench.sh` runs each with
# its defaults; `bash scripts/bench.sh harvest --items 10000,100000` runs one with arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" bench
# The baselines of bench/cli.py and bench/catalog.py.
need_apt=()
for pkg in gdal-bin sqlite3 time; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "eoharvest bench: please install as root: apt-get install ${need_apt[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# bench/download.py: its file server (nginx) and baselines (curl, aria2c, openssl)
if [ "$#" -eq 0 ] || [ "$1" = download ]; then
    need=()
    for pkg in nginx-light aria2 curl openssl; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi
PY="${EOHARVEST_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
# bench/serve_files.py compares the file routes with nginx serving the same file
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light curl >/dev/null
    else
        echo "eoharvest bench: bench/serve_files.py needs nginx: apt-get install nginx-light" >&2
    fi
fi
if [ "$#" -gt 0 ]; then
    name="$1"
    shift
    exec "$PY" "bench/$name.py" "$@"
fi
# bench/scaleout.py: N daemons against one on a throttled loopback provider, and claim latency
# with a million queued jobs (PostgreSQL: a throw-away local cluster, as bench/postgis.py)
for name in harvest catalog cli postgis scaleout download; do
    echo "== bench/$name.py"
    "$PY" "bench/$name.py"
done
# `eoharvest serve`: item-search latency over HTTP beside `catalog query` (100k and 1M scenes)
echo "== bench/serve.py"
"$PY" "bench/serve.py"
# `eoharvest serve` file routes: whole-file throughput and 16 KiB ranges beside nginx (same file)
echo "== bench/serve_files.py"
"$PY" "bench/serve_files.py"
