#!/usr/bin/env bash
# Set up (first time) and run the gateway on the embedded default: SQLite in ./data, demo directory,
# and DEVELOPMENT authentication (the gateway's own token issuer; mint tokens with
# `.venv/bin/gateway token ...`). Set GATEWAY_AUTH_MODE=jwt (with issuer, audience, JWKS URL) for real use.
# Extra arguments go to `gateway serve` (e.g. ./run.sh --port 9000).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
export GATEWAY_AUTH_MODE="${GATEWAY_AUTH_MODE:-development}"
exec .venv/bin/gateway serve "$@"
