# Shared by .ci/fuzz.sh and .ci/interop.sh (sourced, not run): a pinned Python virtual
# environment, the debug binary, a free port, and starting and stopping a tessera server.

# ensure_venv DIR PACKAGE...: DIR holds exactly these pinned packages (re-made if they changed).
ensure_venv() {
  local dir=$1
  shift
  if [ ! -f "$dir/installed" ] || [ "$(cat "$dir/installed")" != "$*" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --upgrade pip
    "$dir/bin/pip" install --quiet "$@"
    echo "$*" >"$dir/installed"
  fi
}

# build_tessera: builds the debug binary and sets $bin to it.
build_tessera() {
  cargo build --quiet --bin tessera
  bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/tessera"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# json_field NAME: the string field NAME of the JSON object on stdin.
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

server_pid=""
# start_tessera BASE LOG: `tessera serve` with the current TESSERA_* environment, until
# BASE/readyz answers; its pid in $server_pid. Fails, printing the log, if it does not start.
start_tessera() {
  "$bin" serve >"$2" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$1/readyz" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "tessera did not start:" >&2
  cat "$2" >&2
  return 1
}

stop_tessera() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
