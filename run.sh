#!/usr/bin/env bash
# Set up (first time) and run the gateway on the embedded default: SQLite in ./data, demo directory.
# Extra arguments go to `gateway serve` (e.g. ./run.sh --port 9000).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
exec .venv/bin/gateway serve "$@"
