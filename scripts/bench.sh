#!/usr/bin/env bash
# Load benchmark of tessera next to the floor of its own stack (examples/floor.rs). Run by hand,
# never by CI; see docs/performance.md for what it measures and how to read it.
#
# usage: scripts/bench.sh [--scale] [--runs N] [--duration S] [--node-peer DIR] [POSTGRES_URL]
#   --scale          also measure with 1,000,000 refresh tokens (and their audit rows) seeded
#   --runs N         runs per figure, the median is reported (default 3)
#   --duration S     seconds per run (default 10); every scenario gets a 2 s warm-up first
#   --node-peer DIR  also measure node-oidc-provider from DIR (a copy of the peer set-up with
#                    node_modules and keys.json in place; see docs/performance.md)
#   POSTGRES_URL     also measure on PostgreSQL (a fresh database is created there and dropped;
#                    needs psql), e.g. postgres://postgres@127.0.0.1:5432/postgres
#
# Needs wrk (Debian: apt-get install -y wrk) and taskset. The servers run on CPU 0, wrk on CPU 1.
# Release builds go to target/bench so they never wait on the debug build's lock in target/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench}
LUA=$ROOT/scripts/bench

RUNS=3 DURATION=10 WARMUP=2 CONC=32 SCALE=0 SCALE_ROWS=${SCALE_ROWS:-1000000} PG_URL= NODE_PEER=
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
PORT=18080 FLOOR_PORT=18091 NODE_PORT=13000
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=1 ;;
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --node-peer) NODE_PEER=$(cd "$2" && pwd); shift ;;
    postgres://*|postgresql://*) PG_URL=$1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is missing: apt-get install -y util-linux" >&2; exit 2; }
[ -z "$PG_URL" ] || command -v psql >/dev/null || { echo "psql is missing: apt-get install -y postgresql-client" >&2; exit 2; }

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) CPUs online)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: wrk -t1 -c$CONC, ${RUNS} runs x ${DURATION}s (+${WARMUP}s warm-up), server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU"

echo "== build (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release --quiet --bin tessera --example floor --example seed)
BIN=$CARGO_TARGET_DIR/release/tessera
FLOOR=$CARGO_TARGET_DIR/release/examples/floor
SEED=$CARGO_TARGET_DIR/release/examples/seed

W=$(mktemp -d /tmp/tessera-bench.XXXXXX)
SPID= PG_DBS=()
cleanup() {
  local rc=$?
  [ -z "$SPID" ] || kill "$SPID" 2>/dev/null || true
  for db in "${PG_DBS[@]}"; do psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  if [ "$rc" = 0 ]; then rm -rf "$W"; else echo "failed; logs kept in $W" >&2; fi
}
trap cleanup EXIT
RESULTS=$W/results.tsv
: > "$RESULTS"

b64() { printf '%s' "$1" | base64 -w0; }
field() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

wait_ready() { # url, then up to 10 s
  for _ in $(seq 1 2000); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.005
  done
  echo "server at $1 did not become ready" >&2; return 1
}

stop_server() {
  [ -n "$SPID" ] || return 0
  kill "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=
}

# wrk once; prints "rps p50 p99 non200+sockerr"
wrk_once() { # seconds, script, url
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONC" -d"${1}s" --latency -s "$LUA/$2" "$3" |
    sed -n 's/^RESULT requests=[0-9]* rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) non200=\([0-9]*\) sockerr=\([0-9]*\)/\1 \2 \3 \4 \5/p' |
    awk '{print $1, $2, $3, $4 + $5}'
}

# measure SERVER SCENARIO SCRIPT URL [fresh-input-command]: warm-up, RUNS runs, one result row.
# With a fifth argument (a command that exports TOKENS), each run gets fresh input (rotating tokens).
measure() {
  local server=$1 scenario=$2 script=$3 url=$4 refill=${5:-}
  [ -z "$refill" ] || $refill
  wrk_once "$WARMUP" "$script" "$url" >/dev/null
  local runs=$W/runs.txt
  : > "$runs"
  for _ in $(seq 1 "$RUNS"); do
    [ -z "$refill" ] || $refill
    wrk_once "$DURATION" "$script" "$url" >> "$runs"
  done
  local rps p50 p99 err
  rps=$(cut -d' ' -f1 "$runs" | median)
  p50=$(cut -d' ' -f2 "$runs" | median)
  p99=$(cut -d' ' -f3 "$runs" | median)
  err=$(awk '{s += $4} END {print s + 0}' "$runs")
  printf '%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\n' "$server" "$scenario" "$rps" "$p50" "$p99" "$err" \
    "$(tr '\n' ' ' < <(cut -d' ' -f1 "$runs"))" >> "$RESULTS"
  printf '  %-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %s  (runs: %s)\n' \
    "$server/$scenario" "$rps" "$p50" "$p99" "$err" "$(tr '\n' ' ' < <(cut -d' ' -f1 "$runs"))"
}

note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$W/notes.tsv"; echo "  $1 $2: $3"; }

# --- the floor --------------------------------------------------------------------------------
bench_floor() {
  echo "== floor (examples/floor.rs)"
  local keydir=$1
  taskset -c "$SERVER_CPU" "$FLOOR" "127.0.0.1:$FLOOR_PORT" "$(ls "$keydir"/*.pem | head -1)" 2>"$W/floor.log" &
  SPID=$!
  local base=http://127.0.0.1:$FLOOR_PORT
  for _ in $(seq 1 400); do curl -s -o /dev/null -X POST "$base/sign" && break; sleep 0.005; done
  local jwt
  jwt=$(curl -sf -X POST "$base/sign" | field access_token)
  BODY="grant_type=client_credentials" AUTHORIZATION= measure floor sign post.lua "$base/sign"
  BODY="token=$jwt" AUTHORIZATION= measure floor verify post.lua "$base/verify"
  note floor peak_rss_mb "$(peak_rss_mb "$SPID")"
  stop_server
}

# --- tessera ----------------------------------------------------------------------------------
# bench_tessera LABEL DATABASE_URL SEED_ROWS
bench_tessera() {
  local label=$1 db=$2 seed_rows=$3 dir=$W/$1
  echo "== tessera ($label)"
  mkdir -p "$dir"
  export TESSERA_DATABASE_URL=$db TESSERA_KEYS_DIR=$dir/keys TESSERA_LISTEN=127.0.0.1:$PORT
  local base=http://127.0.0.1:$PORT pw=bench-password
  t() { (cd "$dir" && "$BIN" "$@") 2>>"$dir/cli.log"; }
  echo -n "$pw" | t user add alice >/dev/null
  local cc_secret rs_secret personal
  cc_secret=$(t client add bench-cc --grant-types client_credentials | field client_secret)
  rs_secret=$(t client add bench-rs --introspect | field client_secret)
  t album add bench-album >/dev/null
  t album grant bench-album alice read,download,share >/dev/null
  personal=$(t token create --user alice --name bench-personal --scope user | field token)
  # Rotating tokens: fresh for the warm-up and every run, two per connection (wrk sends a
  # request or two more than it has connections before the first answer arrives).
  local need=$(( 2 * CONC * (RUNS + 1) ))
  for i in $(seq 1 "$need"); do
    t token create --user alice --name "bench-rotating-$i" --scope user --rotating | field token
  done > "$dir/rotating.txt"
  if [ "$seed_rows" -gt 0 ]; then
    "$SEED" "$db" "$seed_rows" 2>&1 | tr '\r' '\n' | tail -1 | sed 's/^/  /'
  fi

  # Start on the existing database, timed to the first 200 from /readyz.
  local t0 t1
  t0=$(date +%s%N)
  (cd "$dir" && exec taskset -c "$SERVER_CPU" "$BIN" serve 2>"$dir/server.log") &
  SPID=$!
  wait_ready "$base/readyz"
  t1=$(date +%s%N)
  note "tessera-$label" start_to_ready_ms "$(( (t1 - t0) / 1000000 ))"

  local album jwt
  album=$(curl -sf -u "alice:$pw" -H 'content-type: application/json' \
    -d '{"name":"bench-album-token","permissions":["read","download"]}' \
    "$base/api/albums/bench-album/tokens" | field token)
  jwt=$(curl -sf -d "grant_type=refresh_token&refresh_token=$personal" "$base/oauth/token" | field access_token)
  [ -n "$album" ] && [ -n "$jwt" ] && [ -n "$cc_secret" ] && [ -n "$rs_secret" ] ||
    { echo "set-up failed; see $dir/*.log" >&2; exit 1; }

  local rs_auth="Basic $(b64 "bench-rs:$rs_secret")" s=tessera-$label
  # The introspection scenarios must measure the active path.
  for tok in "$jwt" "$album"; do
    curl -sf -H "authorization: $rs_auth" -d "token=$tok" "$base/oauth/introspect" | grep -q '"active":true' ||
      { echo "set-up failed: a bench token does not introspect as active" >&2; exit 1; }
  done
  BODY="grant_type=refresh_token&refresh_token=$personal" AUTHORIZATION= \
    measure "$s" refresh_personal post.lua "$base/oauth/token"
  ROT_FILE=$dir/rotating.txt ROT_USED=0
  measure "$s" refresh_rotating rotate.lua "$base/oauth/token" next_rotating
  BODY="grant_type=client_credentials" AUTHORIZATION="Basic $(b64 "bench-cc:$cc_secret")" \
    measure "$s" client_credentials post.lua "$base/oauth/token"
  BODY="token=$jwt" AUTHORIZATION=$rs_auth measure "$s" introspect_jwt post.lua "$base/oauth/introspect"
  BODY="token=$album" AUTHORIZATION=$rs_auth measure "$s" introspect_album post.lua "$base/oauth/introspect"
  BODY="token=garbage-0123456789abcdef" AUTHORIZATION=$rs_auth \
    measure "$s" introspect_garbage post.lua "$base/oauth/introspect"
  note "$s" peak_rss_mb "$(peak_rss_mb "$SPID")"
  stop_server
}

# Exports TOKENS: the next 2 x CONC unused rotating tokens of the current tessera run.
next_rotating() {
  export TOKENS
  TOKENS=$(sed -n "$(( ROT_USED + 1 )),$(( ROT_USED + 2 * CONC ))p" "$ROT_FILE" | tr '\n' ' ')
  ROT_USED=$(( ROT_USED + 2 * CONC ))
}

pg_database() { # prints the URL of a fresh database next to PG_URL's
  local name=tessera_bench_$$_$1
  psql -q "$PG_URL" -c "CREATE DATABASE $name" >/dev/null
  PG_DBS+=("$name")
  echo "${PG_URL%/*}/$name"
}

# --- node-oidc-provider -----------------------------------------------------------------------
bench_node() {
  echo "== node-oidc-provider ($NODE_PEER)"
  (cd "$NODE_PEER" && NODE_ENV=production PORT=$NODE_PORT exec taskset -c "$SERVER_CPU" node server.mjs \
    >"$W/node.log" 2>&1) &
  SPID=$!
  local base=http://127.0.0.1:$NODE_PORT
  wait_ready "$base/.well-known/openid-configuration"
  local cc="Basic $(b64 bench:bench-secret)" rs="Basic $(b64 rs:rs-secret)" at
  at=$(curl -sf -u bench:bench-secret -d 'grant_type=client_credentials&scope=api:read' "$base/token" | field access_token)
  BODY="grant_type=client_credentials&scope=api:read&resource=urn:api:es256" AUTHORIZATION=$cc \
    measure node-oidc-provider client_credentials_jwt_es256 post.lua "$base/token"
  BODY="token=$at&token_type_hint=access_token" AUTHORIZATION=$rs \
    measure node-oidc-provider introspect_opaque post.lua "$base/token/introspection"
  BODY="token=garbage-0123456789abcdef" AUTHORIZATION=$rs \
    measure node-oidc-provider introspect_garbage post.lua "$base/token/introspection"
  note node-oidc-provider peak_rss_mb "$(peak_rss_mb "$SPID")"
  stop_server
}

bench_tessera sqlite "sqlite://$W/sqlite/tessera.db?mode=rwc" 0
bench_floor "$W/sqlite/keys"
[ "$SCALE" = 0 ] || bench_tessera sqlite-1m "sqlite://$W/sqlite-1m/tessera.db?mode=rwc" "$SCALE_ROWS"
if [ -n "$PG_URL" ]; then
  bench_tessera postgres "$(pg_database empty)" 0
  [ "$SCALE" = 0 ] || bench_tessera postgres-1m "$(pg_database scale)" "$SCALE_ROWS"
fi
[ -z "$NODE_PEER" ] || bench_node

# --- report -----------------------------------------------------------------------------------
echo "== results (median of $RUNS runs; errors summed over the runs)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -F'\t' '
  FNR == NR { if ($1 == "floor") { rps[$2] = $3; p99[$2] = $5 } ; next }
  FNR == 1 {
    print "| server | scenario | req/s | p50 ms | p99 ms | errors | floor | ratio to floor | p99 / floor p99 |"
    print "|---|---|---:|---:|---:|---:|---|---:|---:|"
  }
  {
    f = ($2 ~ /^introspect/) ? "verify" : "sign"
    ratio = ($1 == "floor") ? "" : sprintf("%.0f%%", 100 * $3 / rps[f])
    pr = ($1 == "floor") ? "" : sprintf("%.2f", $5 / p99[f])
    fl = ($1 == "floor") ? "" : f
    printf "| %s | %s | %d | %.2f | %.2f | %d | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, fl, ratio, pr
  }' "$RESULTS" "$RESULTS"
echo
echo "| server | measure | value |"
echo "|---|---|---:|"
awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$W/notes.tsv"
