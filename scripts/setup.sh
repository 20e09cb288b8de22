#!/usr/bin/env bash
# Installs everything eoharvest needs on a Debian machine, into ./.venv. Safe to re-run.
# Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EOHARVEST_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"

need_apt=()
# mod_spatialite for the catalog, gdal-bin (ogrinfo) to check the catalog opens in GIS tools,
# python3-venv for a venv on Debian's python3 (its sqlite3 can load extensions; pyenv's cannot).
packages=(libsqlite3-mod-spatialite gdal-bin python3-venv python3-dev curl)
# The test suite (and bench/postgis.py) run the catalog on PostgreSQL + PostGIS too: they start a throw-away
# cluster of its own (tests/pgcluster.py), so only the server packages are needed, not a service.
# postgresql-postgis is Debian's metapackage for PostGIS of the default server version.
case ",$EXTRAS," in *,test,*|*,bench,*) packages+=(postgresql postgresql-postgis) ;; esac
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "eoharvest setup: please install as root: apt-get install ${need_apt[*]}" >&2
        exit 1
    fi
    echo "eoharvest setup: installing ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv "$VENV"
fi
spec="$ROOT"
[ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
log="$VENV/pip-install.log"
# Strict editable install: the layer folders map into eoharvest.* and tools like import-linter
# can see them; re-run after adding a module (scripts/test.sh always does). pip's chatter goes to
# a log, shown only if the install fails.
if ! { "$VENV/bin/python" -m pip install -q --upgrade pip \
       && "$VENV/bin/python" -m pip install -q -e "$spec" --config-settings editable_mode=strict; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "eoharvest setup: pip install failed (full log: $log)" >&2
    exit 1
fi
