#!/usr/bin/env bash
# Set up (first time) and run the whole test suite, with the linter first.
# Extra arguments go to pytest (e.g. ./test.sh -k feed -x).
set -euo pipefail
cd "$(dirname "$0")"
EXTRAS=test source scripts/bootstrap.sh
source scripts/ensure-postgres.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
