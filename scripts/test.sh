#!/usr/bin/env bash
# Runs every test: unit tests, and the integration tests on SQLite and, when
# TESSERA_TEST_POSTGRES_URL is set (e.g. postgres://postgres@127.0.0.1:5432/postgres),
# on PostgreSQL too. Installs nothing beyond what cargo fetches.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  echo "note: TESSERA_TEST_POSTGRES_URL is not set; PostgreSQL halves of the tests will be skipped" >&2
fi
cargo test --workspace --all-targets "$@"
