#!/usr/bin/env bash
# Sourced by ./test.sh: the suite runs every store test on SQLite and on PostgreSQL, and starts a
# throwaway PostgreSQL cluster itself (tests/pg_server.py) from Debian's server binaries. Install
# them when missing and we may (root, or sudo without a password); otherwise say what is skipped.
if [ -z "${GATEWAY_TEST_DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  echo "installing Debian's postgresql (server binaries for the PostgreSQL half of the suite)" >&2
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null; }; then
    echo "warning: PostgreSQL could not be installed; its half of the suite will be skipped" >&2
  fi
fi
