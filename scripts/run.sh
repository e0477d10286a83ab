#!/usr/bin/env bash
# Set up a virtual environment and run the whole system (embedded Postgres and Redis, migrations,
# worker, beat, web) on this machine. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PJ_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[embedded]'
exec "$VENV/bin/platform-jobs" dev "$@"
