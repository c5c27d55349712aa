#!/usr/bin/env bash
# Fuzzes a freshly started tessera against docs/openapi.yaml with schemathesis: every operation,
# authenticated (OAuth endpoints as a confidential resource-server client, /api as an admin
# user), checking for server errors and for responses that break the description. Any finding
# fails the run. Run from anywhere: `bash .ci/fuzz.sh`.
#
# It runs once on SQLite and, when TESSERA_TEST_POSTGRES_URL is set (as .ci/run sets it), once
# more on a fresh PostgreSQL database created next to that URL's one and dropped afterwards.
#
# Environment: FUZZ_MAX_EXAMPLES (default 100 per operation), FUZZ_SEED (default random).
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples="${FUZZ_MAX_EXAMPLES:-100}"

. .ci/lib.sh

# schemathesis from PyPI, pinned (the flags and the configuration format below are those of
# schemathesis 4), in a virtual environment of our own.
ensure_venv .venv schemathesis==4.32.5
build_tessera

work="$(mktemp -d)"
pg_db=""
cleanup() {
  stop_tessera
  if [ -n "$pg_db" ]; then
    psql -q "$TESSERA_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

# fuzz_on LABEL DATABASE_URL: a fresh fixture and server on that database, then schemathesis.
fuzz_on() {
  local label=$1 dir="$work/$1"
  mkdir -p "$dir"
  echo "== fuzzing on $label"
  local port base
  port="$(free_port)"
  base="http://127.0.0.1:$port"

  export TESSERA_LISTEN="127.0.0.1:$port"
  export TESSERA_ISSUER="$base"
  export TESSERA_DATABASE_URL="$2"
  export TESSERA_KEYS_DIR="$dir/keys"
  # The fuzzer sends thousands of wrong client credentials on purpose; brute-force limiting
  # would soon answer everything from this address with 429 and hide the endpoints from it.
  export TESSERA_AUTH_FAILURE_LIMIT=1000000
  export RUST_LOG="${RUST_LOG:-warn}"

  # The fixture: an admin with an album, a resource-server client, a personal token.
  local admin_pw="fuzz-admin-password" rs_secret
  "$bin" migrate 2>/dev/null
  printf '%s' "$admin_pw" | "$bin" user add admin --admin >/dev/null
  "$bin" album add a1 >/dev/null
  "$bin" album grant a1 admin read,write,download,share,admin >/dev/null
  rs_secret="$("$bin" client add rs --grant-types client_credentials --introspect | json_field client_secret)"
  "$bin" client add app --grant-types refresh_token >/dev/null
  "$bin" token create --user admin --name fuzz --scope "user album:a1:read" >/dev/null

  start_tessera "$base" "$dir/server.log"

  export FUZZ_CLIENT_AUTH="Basic $(b64 "rs:$rs_secret")"
  export FUZZ_USER_AUTH="Basic $(b64 "admin:$admin_pw")"
  cat >"$dir/schemathesis.toml" <<'TOML'
[[operations]]
include-path-regex = "^/oauth/"
headers = { Authorization = "${FUZZ_CLIENT_AUTH}" }

[[operations]]
include-path-regex = "^/api/"
headers = { Authorization = "${FUZZ_USER_AUTH}" }
TOML

  local seed_args=() status=0
  if [ -n "${FUZZ_SEED:-}" ]; then seed_args=(--seed "$FUZZ_SEED"); fi
  .venv/bin/st --config-file "$dir/schemathesis.toml" run docs/openapi.yaml \
    --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
    --max-examples "$max_examples" \
    --workers 2 \
    --generation-with-security-parameters false \
    --generation-database none \
    --request-timeout 30 \
    --no-color \
    "${seed_args[@]}" || status=$?

  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "tessera died during the fuzz run on $label:" >&2
    tail -n 50 "$dir/server.log" >&2
    status=1
  fi
  if grep -q "panicked" "$dir/server.log"; then
    echo "tessera panicked during the fuzz run on $label:" >&2
    grep -A5 "panicked" "$dir/server.log" >&2
    status=1
  fi
  stop_tessera
  return "$status"
}

# Called plainly, not in `||` or `if`: bash ignores `set -e` inside a function called there, and
# a failing fixture command must stop the run.
fuzz_on sqlite "sqlite://$work/tessera.db?mode=rwc"
if [ -n "${TESSERA_TEST_POSTGRES_URL:-}" ]; then
  command -v psql >/dev/null || { echo "psql is needed for the PostgreSQL fuzz run" >&2; exit 1; }
  pg_db="tessera_fuzz_$$"
  psql -q "$TESSERA_TEST_POSTGRES_URL" -c "CREATE DATABASE $pg_db" >/dev/null
  fuzz_on postgres "${TESSERA_TEST_POSTGRES_URL%/*}/$pg_db"
else
  echo "note: TESSERA_TEST_POSTGRES_URL is not set; fuzzing on SQLite only" >&2
fi
