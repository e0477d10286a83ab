#!/usr/bin/env bash
# Set up a virtual environment with the test extras and run the whole test suite.
# Needs only python3 (3.11+); Postgres and Redis are embedded. Browser tests use Debian's chromium,
# installed here when missing and when we are root on a Debian-like machine.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PJ_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[test]'

if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

"$VENV/bin/ruff" check platform_jobs tests celeryconfig.py
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
