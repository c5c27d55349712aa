#!/usr/bin/env bash
# Interoperability: starts a fresh tessera (SQLite) and runs tests/interop/clients.py, which
# drives it with real client libraries (Authlib, requests, PyJWT with PyJWKClient). Any failed
# check fails the run. Run from anywhere: `bash .ci/interop.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

. .ci/lib.sh

# The client libraries from PyPI, pinned, in a virtual environment of our own.
ensure_venv .venv-interop authlib==1.9.10 requests==2.34.2 'pyjwt[crypto]==2.15.1'
build_tessera

work="$(mktemp -d)"
cleanup() {
  stop_tessera
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$(free_port)"
base="http://127.0.0.1:$port"
export TESSERA_LISTEN="127.0.0.1:$port" TESSERA_ISSUER="$base"
export TESSERA_DATABASE_URL="sqlite://$work/tessera.db?mode=rwc" TESSERA_KEYS_DIR="$work/keys"
export RUST_LOG="${RUST_LOG:-warn}"

printf '%s' 'alice-password' | "$bin" user add alice >/dev/null
"$bin" album add a1 >/dev/null
"$bin" album grant a1 alice read,download,share >/dev/null
CLIENT_ID=app
CLIENT_SECRET="$("$bin" client add app --grant-types refresh_token,client_credentials --scope 'user album:*:read' | json_field client_secret)"
RS_ID=rs
RS_SECRET="$("$bin" client add rs --grant-types client_credentials --introspect | json_field client_secret)"
PERSONAL="$("$bin" token create --user alice --name interop --scope 'user album:a1:read' | json_field token)"
ROTATING="$("$bin" token create --user alice --name interop-rotating --scope user --rotating | json_field token)"

start_tessera "$base" "$work/server.log"
ALBUM_TOKEN="$(curl -fsS -u alice:alice-password -H 'content-type: application/json' \
  -d '{"name":"viewer","permissions":["read","download"]}' "$base/api/albums/a1/tokens" | json_field token)"

echo "== interoperability: Authlib, requests, PyJWT against $base"
AS="$base" CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" RS_ID="$RS_ID" RS_SECRET="$RS_SECRET" \
  PERSONAL="$PERSONAL" ROTATING="$ROTATING" ALBUM_TOKEN="$ALBUM_TOKEN" \
  .venv-interop/bin/python tests/interop/clients.py
