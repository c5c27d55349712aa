#!/usr/bin/env bash
# Interoperability: starts a fresh tessera (SQLite) and runs tests/interop/clients.py, which
# drives it with real client libraries (Authlib, requests, PyJWT with PyJWKClient). Any failed
# check fails the run. Run from anywhere: `bash .ci/interop.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The client libraries from PyPI, pinned, in a virtual environment of our own.
reqs=(authlib==1.9.10 requests==2.34.2 'pyjwt[crypto]==2.15.1')
if [ ! -f .venv-interop/installed ] || [ "$(cat .venv-interop/installed)" != "${reqs[*]}" ]; then
  rm -rf .venv-interop
  python3 -m venv .venv-interop
  .venv-interop/bin/pip install --quiet --upgrade pip
  .venv-interop/bin/pip install --quiet "${reqs[@]}"
  echo "${reqs[*]}" > .venv-interop/installed
fi

cargo build --quiet --bin tessera
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/tessera"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export TESSERA_LISTEN="127.0.0.1:$port" TESSERA_ISSUER="$base"
export TESSERA_DATABASE_URL="sqlite://$work/tessera.db?mode=rwc" TESSERA_KEYS_DIR="$work/keys"
export RUST_LOG="${RUST_LOG:-warn}"

field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

printf '%s' 'alice-password' | "$bin" user add alice >/dev/null
"$bin" album add a1 >/dev/null
"$bin" album grant a1 alice read,download,share >/dev/null
CLIENT_ID=app
CLIENT_SECRET="$("$bin" client add app --grant-types refresh_token,client_credentials --scope 'user album:*:read' | field client_secret)"
RS_ID=rs
RS_SECRET="$("$bin" client add rs --grant-types client_credentials --introspect | field client_secret)"
PERSONAL="$("$bin" token create --user alice --name interop --scope 'user album:a1:read' | field token)"
ROTATING="$("$bin" token create --user alice --name interop-rotating --scope user --rotating | field token)"

"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
ALBUM_TOKEN="$(curl -fsS -u alice:alice-password -H 'content-type: application/json' \
  -d '{"name":"viewer","permissions":["read","download"]}' "$base/api/albums/a1/tokens" | field token)"

echo "== interoperability: Authlib, requests, PyJWT against $base"
AS="$base" CLIENT_ID="$CLIENT_ID" CLIENT_SECRET="$CLIENT_SECRET" RS_ID="$RS_ID" RS_SECRET="$RS_SECRET" \
  PERSONAL="$PERSONAL" ROTATING="$ROTATING" ALBUM_TOKEN="$ALBUM_TOKEN" \
  .venv-interop/bin/python tests/interop/clients.py
