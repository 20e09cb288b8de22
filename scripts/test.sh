#!/usr/bin/env bash
# Installs everything (system packages, ./.venv, eoharvest with test extras) and runs the whole
# test suite. Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" test
cd "$ROOT"
# pytest exits 5 when it collected no test; with `set -e` that fails the run, as it should.
# `pytest`, not `python -m pytest`: the latter puts the repo root on sys.path, where the bare
# layer folders (domain/, adapters/...) would shadow nothing but could be imported twice.
exec "${EOHARVEST_VENV:-$ROOT/.venv}/bin/pytest" "$@"
