#!/usr/bin/env bash
# Make ./.venv with the gateway installed (editable), installing Debian's venv module if needed.
# Sourced by ./run.sh and ./test.sh; EXTRAS selects optional dependency groups (e.g. "test").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    echo "python3 -m venv is missing; installing Debian's python3-venv" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi
hash=$(sha1sum pyproject.toml | cut -c1-12)
stamp=".venv/.installed-${EXTRAS:-base}-$hash"
# the test install includes everything the gateway needs, so it satisfies ./run.sh too
if [ ! -f "$stamp" ] && ! { [ -z "${EXTRAS:-}" ] && [ -f ".venv/.installed-test-$hash" ]; }; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  spec="."; [ -n "${EXTRAS:-}" ] && spec=".[${EXTRAS}]"
  .venv/bin/python -m pip install -q -e "$spec"
  touch "$stamp"
fi
