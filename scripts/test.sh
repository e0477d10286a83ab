#!/usr/bin/env bash
# Set up a virtual environment with the test extras and run the test suite: every layer under tests/
# (README, "Tests"), or what the arguments name.
# Needs only python3 (3.11+); Postgres and Redis are embedded. Browser tests use Debian's chromium,
# installed here when missing and when we are root on a Debian-like machine.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PJ_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Installed again only when pyproject.toml changed since the last install into this venv, so a run of
# one layer (`bash scripts/test.sh tests/unit`: seconds, no server) is not dominated by pip.
STAMP="$VENV/.platform_jobs-test-install"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[test]'
  echo "$WANT" > "$STAMP"
fi

# Debian packages the tests drive as real processes: chromium (page tests), pgbouncer (the transaction
# pooler drills) and faketime (a worker host whose clock is off). Installed when missing, as root on a
# Debian-like machine; the tests that need one skip with a reason where it cannot be installed.
MISSING=()
[ -x /usr/bin/chromium ] || MISSING+=(chromium)
[ -x /usr/sbin/pgbouncer ] || MISSING+=(pgbouncer)
command -v faketime >/dev/null 2>&1 || MISSING+=(faketime)
if [ "${#MISSING[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "installing Debian's ${MISSING[*]} for the tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi

"$VENV/bin/ruff" check platform_jobs tests celeryconfig.py
"$VENV/bin/mypy"
exec "$VENV/bin/python" -m pytest "$@"
