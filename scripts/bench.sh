#!/usr/bin/env bash
# Load benchmark of tessera next to the floor of its own stack (examples/floor.rs). Run by hand,
# never by CI; see docs/performance.md for what it measures and how to read it.
#
# usage: scripts/bench.sh [--scale] [--runs N] [--duration S] [--node-peer DIR] [--baseline BIN]
#                         [POSTGRES_URL]
#   --scale          also measure with 1,000,000 refresh tokens (and their audit rows) seeded
#   --runs N         runs per figure, the median is reported (default 3)
#   --duration S     seconds per run (default 10); every scenario gets a 2 s warm-up first
#   --node-peer DIR  also measure node-oidc-provider from DIR (a copy of the peer set-up with
#                    node_modules and keys.json in place; see docs/performance.md)
#   --baseline BIN   compare with another tessera binary (e.g. the previous commit's release
#                    build): every scenario, on every database, runs on BIN and on this tree's
#                    build in turn (BIN, this, BIN, ...), each on its own copy of one prepared
#                    database; prints both medians, the ratios this/BIN and a verdict line per
#                    scenario (slower by more than 5 %, or THRESHOLD=N %?). Skips the floor;
#                    not with --node-peer.
#   POSTGRES_URL     also measure on PostgreSQL (a fresh database is created there and dropped;
#                    needs psql), e.g. postgres://postgres@127.0.0.1:5432/postgres
#
# Needs wrk (Debian: apt-get install -y wrk) and taskset. The servers run on CPU 0, wrk on CPU 1.
# Release builds go to target/bench so they never wait on the debug build's lock in target/.
# Environment: BENCH_NICE=-10 runs the servers and wrk at that niceness (root), THRESHOLD=N sets
# --baseline's verdict (default 5 %), SCALE_ROWS, SERVER_CPU and LOAD_CPU as their names say.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench}
LUA=$ROOT/scripts/bench

RUNS=3 DURATION=10 WARMUP=2 CONC=32 SCALE=0 SCALE_ROWS=${SCALE_ROWS:-1000000} PG_URL= NODE_PEER=
BASELINE= THRESHOLD=${THRESHOLD:-5}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
# BENCH_NICE=-10: run the servers and wrk at that niceness (root only below 0), so that other
# work on a shared machine disturbs the figures less (and is slowed down meanwhile).
PRIO=()
[ -z "${BENCH_NICE:-}" ] || PRIO=(nice -n "$BENCH_NICE")
PORT=18080 BASE_PORT=18081 FLOOR_PORT=18091 NODE_PORT=13000
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=1 ;;
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --node-peer) NODE_PEER=$(cd "$2" && pwd); shift ;;
    --baseline) BASELINE=$(realpath "$2"); shift ;;
    postgres://*|postgresql://*) PG_URL=$1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is missing: apt-get install -y util-linux" >&2; exit 2; }
[ -z "$PG_URL" ] || command -v psql >/dev/null || { echo "psql is missing: apt-get install -y postgresql-client" >&2; exit 2; }
if [ -n "$BASELINE" ]; then
  [ -x "$BASELINE" ] && "$BASELINE" --help >/dev/null 2>&1 ||
    { echo "--baseline $BASELINE: not an executable tessera binary" >&2; exit 2; }
  [ -z "$NODE_PEER" ] || { echo "--baseline and --node-peer do not combine" >&2; exit 2; }
fi

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) CPUs online)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: wrk -t1 -c$CONC, ${RUNS} runs x ${DURATION}s (+${WARMUP}s warm-up), server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU${BENCH_NICE:+, niceness $BENCH_NICE}"

W=$(mktemp -d /tmp/tessera-bench.XXXXXX)
SPID= BSPID=
cleanup() {
  local rc=$?
  local pid
  for pid in $SPID $BSPID; do kill "$pid" 2>/dev/null || true; done
  # Every database this run created is named tessera_bench_<pid>_*; DROP DATABASE needs the
  # servers' connections gone (up to 5 s).
  for pid in $SPID $BSPID; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [ -z "$PG_URL" ] || psql -Atq "$PG_URL" \
    -c "SELECT datname FROM pg_database WHERE datname LIKE 'tessera\_bench\_$$\_%'" 2>/dev/null |
    while read -r db; do psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  if [ "$rc" = 0 ]; then rm -rf "$W"; else echo "failed; logs kept in $W" >&2; fi
}
trap cleanup EXIT
if [ -n "$BASELINE" ]; then
  # A copy, so that the build below cannot overwrite it (BIN may lie in CARGO_TARGET_DIR).
  cp "$BASELINE" "$W/baseline-tessera"
  echo "baseline: $BASELINE (sha256 $(sha256sum "$BASELINE" | cut -c1-16))"
fi

echo "== build (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release --quiet --bin tessera --example floor --example seed)
BIN=$CARGO_TARGET_DIR/release/tessera
FLOOR=$CARGO_TARGET_DIR/release/examples/floor
SEED=$CARGO_TARGET_DIR/release/examples/seed
[ -z "$BASELINE" ] || echo "current:  $BIN (sha256 $(sha256sum "$BIN" | cut -c1-16)), commit $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
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
  "${PRIO[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONC" -d"${1}s" --latency -s "$LUA/$2" "$3" |
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
  "${PRIO[@]}" taskset -c "$SERVER_CPU" "$FLOOR" "127.0.0.1:$FLOOR_PORT" "$(ls "$keydir"/*.pem | head -1)" 2>"$W/floor.log" &
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
PW=bench-password

# prepare_db TESSERA_BIN DIR DATABASE_URL SEED_ROWS: the CLI set-up of one database, keys in
# DIR/keys. Sets CC_SECRET, RS_SECRET and PERSONAL; writes DIR/rotating.txt.
prepare_db() {
  local bin=$1 dir=$2 db=$3 seed_rows=$4
  mkdir -p "$dir"
  t() { (cd "$dir" && export TESSERA_DATABASE_URL=$db TESSERA_KEYS_DIR=$dir/keys && "$bin" "$@") 2>>"$dir/cli.log"; }
  echo -n "$PW" | t user add alice >/dev/null
  CC_SECRET=$(t client add bench-cc --grant-types client_credentials | field client_secret)
  RS_SECRET=$(t client add bench-rs --introspect | field client_secret)
  t album add bench-album >/dev/null
  t album grant bench-album alice read,download,share >/dev/null
  PERSONAL=$(t token create --user alice --name bench-personal --scope user | field token)
  [ -n "$CC_SECRET" ] && [ -n "$RS_SECRET" ] && [ -n "$PERSONAL" ] ||
    { echo "set-up failed; see $dir/cli.log" >&2; exit 1; }
  # Rotating tokens: fresh for the warm-up and every run, two per connection (wrk sends a
  # request or two more than it has connections before the first answer arrives).
  local need=$(( 2 * CONC * (RUNS + 1) ))
  for i in $(seq 1 "$need"); do
    t token create --user alice --name "bench-rotating-$i" --scope user --rotating | field token
  done > "$dir/rotating.txt"
  if [ "$seed_rows" -gt 0 ]; then
    "$SEED" "$db" "$seed_rows" 2>&1 | tr '\r' '\n' | tail -1 | sed 's/^/  /'
  fi
}

# start_tessera BIN DIR DATABASE_URL PORT NAME: `BIN serve` on that existing database pinned to
# SERVER_CPU, in the background (its pid in STARTED), timed to the first 200 from /readyz.
start_tessera() {
  local bin=$1 dir=$2 db=$3 port=$4 t0 t1
  t0=$(date +%s%N)
  (cd "$dir" && export TESSERA_DATABASE_URL=$db TESSERA_KEYS_DIR=$dir/keys TESSERA_LISTEN=127.0.0.1:$port &&
    exec "${PRIO[@]}" taskset -c "$SERVER_CPU" "$bin" serve 2>"$dir/server.log") &
  STARTED=$!
  wait_ready "http://127.0.0.1:$port/readyz"
  t1=$(date +%s%N)
  note "$5" start_to_ready_ms "$(( (t1 - t0) / 1000000 ))"
}

active() { # BASE_URL TOKEN: does TOKEN introspect as active there?
  curl -sf -H "authorization: Basic $(b64 "bench-rs:$RS_SECRET")" -d "token=$2" "$1/oauth/introspect" |
    grep -q '"active":true'
}
new_jwt() { # BASE_URL: prints an access token from the refresh grant on PERSONAL
  curl -sf -d "grant_type=refresh_token&refresh_token=$PERSONAL" "$1/oauth/token" | field access_token
}

# server_tokens BASE_URL DIR: sets ALBUM (a new album token, through the API) and JWT (an access
# token); the introspection scenarios must measure the active path, so both are checked.
server_tokens() {
  ALBUM=$(curl -sf -u "alice:$PW" -H 'content-type: application/json' \
    -d '{"name":"bench-album-token","permissions":["read","download"]}' \
    "$1/api/albums/bench-album/tokens" | field token)
  JWT=$(new_jwt "$1")
  [ -n "$ALBUM" ] && [ -n "$JWT" ] || { echo "set-up failed; see $2/*.log" >&2; exit 1; }
  for tok in "$JWT" "$ALBUM"; do
    active "$1" "$tok" || { echo "set-up failed: a bench token does not introspect as active" >&2; exit 1; }
  done
}

# bench_tessera LABEL DATABASE_URL SEED_ROWS
bench_tessera() {
  local label=$1 db=$2 seed_rows=$3 dir=$W/$1
  echo "== tessera ($label)"
  local base=http://127.0.0.1:$PORT
  prepare_db "$BIN" "$dir" "$db" "$seed_rows"
  start_tessera "$BIN" "$dir" "$db" "$PORT" "tessera-$label"
  SPID=$STARTED
  server_tokens "$base" "$dir"

  local rs_auth="Basic $(b64 "bench-rs:$RS_SECRET")" s=tessera-$label
  BODY="grant_type=refresh_token&refresh_token=$PERSONAL" AUTHORIZATION= \
    measure "$s" refresh_personal post.lua "$base/oauth/token"
  ROT_FILE=$dir/rotating.txt ROT_USED=0
  measure "$s" refresh_rotating rotate.lua "$base/oauth/token" next_rotating
  BODY="grant_type=client_credentials" AUTHORIZATION="Basic $(b64 "bench-cc:$CC_SECRET")" \
    measure "$s" client_credentials post.lua "$base/oauth/token"
  BODY="token=$JWT" AUTHORIZATION=$rs_auth measure "$s" introspect_jwt post.lua "$base/oauth/introspect"
  BODY="token=$ALBUM" AUTHORIZATION=$rs_auth measure "$s" introspect_album post.lua "$base/oauth/introspect"
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
  echo "${PG_URL%/*}/$name"
}

# --- baseline against current (--baseline) ----------------------------------------------------
# copy_db DATABASE_URL SIDE DIR: prints the URL of a fresh copy of that prepared (closed) database:
# a copy of the SQLite file in DIR, or a PostgreSQL database created from it as a template.
copy_db() {
  case $1 in
    sqlite://*)
      local f=${1#sqlite://}
      f=${f%%\?*}
      cp "$f" "$3/tessera.db"
      [ ! -e "$f-wal" ] || cp "$f-wal" "$3/tessera.db-wal"
      echo "sqlite://$3/tessera.db?mode=rwc" ;;
    *)
      local template=${1##*/} name=${1##*/}_$2
      # A backend of the set-up's last client may linger a moment after it disconnected, and
      # CREATE DATABASE refuses a template that anyone is connected to.
      for _ in $(seq 1 100); do
        psql -q "$PG_URL" -c "CREATE DATABASE $name TEMPLATE $template" >/dev/null 2>"$3/createdb.err" &&
          { echo "${PG_URL%/*}/$name"; return 0; }
        sleep 0.1
      done
      cat "$3/createdb.err" >&2; return 1 ;;
  esac
}

# Exports TOKENS: the next 2 x CONC unused rotating tokens of SIDE (base or cur). Both copies
# hold the same tokens, so each side spends the same list, on its own counter.
next_rotating_side() {
  local v=ROT_USED_$1
  export TOKENS
  TOKENS=$(sed -n "$(( ${!v} + 1 )),$(( ${!v} + 2 * CONC ))p" "$ROT_FILE" | tr '\n' ' ')
  printf -v "$v" '%d' $(( ${!v} + 2 * CONC ))
}

# run_side SIDE SECONDS SCRIPT PATH: one wrk run on that side's server (BODY_base or BODY_cur;
# REFILL, if set, is called with the side first). Not in a subshell: REFILL keeps count.
run_side() {
  local port=$PORT body=$BODY_cur
  if [ "$1" = base ]; then port=$BASE_PORT body=$BODY_base; fi
  [ -z "$REFILL" ] || $REFILL "$1"
  BODY=$body wrk_once "$2" "$3" "http://127.0.0.1:$port$4"
}

# pair_measure LABEL SCENARIO SCRIPT PATH: SCENARIO on both servers in turn: a warm-up on each,
# then RUNS x (a baseline run, a current run), so that drift on the machine hits both alike.
# Inputs: BODY_base, BODY_cur, AUTHORIZATION (both sides), REFILL (may be empty).
pair_measure() {
  local label=$1 scenario=$2 script=$3 path=$4 side
  local pair=$W/pair.txt one=$W/one.txt
  for side in base cur; do run_side "$side" "$WARMUP" "$script" "$path" >/dev/null; done
  : > "$pair"
  for r in $(seq 1 "$RUNS"); do
    for side in base cur; do
      run_side "$side" "$DURATION" "$script" "$path" > "$one"
      [ -s "$one" ] || { echo "wrk gave no result ($label/$scenario on $side)" >&2; exit 1; }
      echo "$r $side $(cat "$one")" >> "$pair"
    done
  done
  col() { awk -v s="$1" -v c="$2" '$2 == s {print $c}' "$pair"; }  # run side rps p50 p99 errors
  local b_rps c_rps b_p50 c_p50 b_p99 c_p99 b_err c_err per_run b_runs c_runs
  b_rps=$(col base 3 | median) c_rps=$(col cur 3 | median)
  b_p50=$(col base 4 | median) c_p50=$(col cur 4 | median)
  b_p99=$(col base 5 | median) c_p99=$(col cur 5 | median)
  b_err=$(col base 6 | awk '{s += $1} END {print s + 0}') c_err=$(col cur 6 | awk '{s += $1} END {print s + 0}')
  b_runs=$(col base 3 | awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1}')
  c_runs=$(col cur 3 | awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1}')
  # current / baseline of each run against the baseline run just before it, req/s and p99
  pair_ratios() { awk -v c="$1" '$2 == "base" {b = $c} $2 == "cur" {printf "%s%.3f", (n++ ? " " : ""), (b > 0 ? $c / b : 0)}' "$pair"; }
  per_run=$(pair_ratios 3) per_run_p99=$(pair_ratios 5)
  local med_rps med_p99
  med_rps=$(tr ' ' '\n' <<< "$per_run" | median) med_p99=$(tr ' ' '\n' <<< "$per_run_p99" | median)
  printf '%s\t%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\n' "$label" "$scenario" \
    "$b_rps" "$c_rps" "$b_p50" "$c_p50" "$b_p99" "$c_p99" "$b_err" "$c_err" "$per_run" "$b_runs" "$c_runs" \
    "$per_run_p99" "$med_rps" "$med_p99" >> "$W/compare.tsv"
  awk -v l="$label/$scenario" -v br="$b_rps" -v cr="$c_rps" -v bp="$b_p99" -v cp="$c_p99" -v pr="$per_run" \
    -v be="$b_err" -v ce="$c_err" -v m="$med_rps" 'BEGIN {
      printf "  %-30s baseline %7.0f req/s p99 %6.2f ms | current %7.0f req/s p99 %6.2f ms | req/s x%.3f per pair (%s)%s\n",
        l, br, bp, cr, cp, m, pr,
        (be + ce > 0 ? sprintf("  errors %d/%d", be, ce) : "") }'
}

# bench_compare LABEL DATABASE_URL SEED_ROWS: the database prepared once (with the baseline's CLI,
# so a migration only the current build has is applied by it at start), one fresh copy for each
# binary, both servers up side by side (on SERVER_CPU, ports BASE_PORT and PORT; the one not
# measured is idle), every scenario measured on both in turn.
bench_compare() {
  local label=$1 db=$2 seed_rows=$3 dir=$W/$1 side
  echo "== tessera ($label): baseline (port $BASE_PORT) against current (port $PORT)"
  local t0=$SECONDS
  prepare_db "$W/baseline-tessera" "$dir/prep" "$db" "$seed_rows"
  echo "  set-up with the baseline's CLI: $(( SECONDS - t0 )) s"
  local db_base db_cur
  mkdir -p "$dir/base" "$dir/cur"
  db_base=$(copy_db "$db" base "$dir/base")
  db_cur=$(copy_db "$db" cur "$dir/cur")
  for side in base cur; do cp -r "$dir/prep/keys" "$dir/$side/keys"; done
  start_tessera "$W/baseline-tessera" "$dir/base" "$db_base" "$BASE_PORT" "baseline-$label"
  BSPID=$STARTED
  start_tessera "$BIN" "$dir/cur" "$db_cur" "$PORT" "current-$label"
  SPID=$STARTED
  local b=http://127.0.0.1:$BASE_PORT c=http://127.0.0.1:$PORT album_b album_c jwt_b jwt_c
  server_tokens "$b" "$dir/base"
  album_b=$ALBUM
  server_tokens "$c" "$dir/cur"
  album_c=$ALBUM

  local rs_auth="Basic $(b64 "bench-rs:$RS_SECRET")" body
  body="grant_type=refresh_token&refresh_token=$PERSONAL"
  BODY_base=$body BODY_cur=$body AUTHORIZATION= REFILL= \
    pair_measure "$label" refresh_personal post.lua /oauth/token
  ROT_FILE=$dir/prep/rotating.txt ROT_USED_base=0 ROT_USED_cur=0
  BODY_base= BODY_cur= AUTHORIZATION= REFILL=next_rotating_side \
    pair_measure "$label" refresh_rotating rotate.lua /oauth/token
  BODY_base=grant_type=client_credentials BODY_cur=grant_type=client_credentials \
    AUTHORIZATION="Basic $(b64 "bench-cc:$CC_SECRET")" REFILL= \
    pair_measure "$label" client_credentials post.lua /oauth/token
  # Fresh access tokens (they live 15 minutes by default, and the scenarios before took a while).
  jwt_b=$(new_jwt "$b") jwt_c=$(new_jwt "$c")
  BODY_base="token=$jwt_b" BODY_cur="token=$jwt_c" AUTHORIZATION=$rs_auth REFILL= \
    pair_measure "$label" introspect_jwt post.lua /oauth/introspect
  active "$b" "$jwt_b" && active "$c" "$jwt_c" ||
    echo "  WARNING: an access token expired during introspect_jwt; its figures mix in the inactive path" >&2
  BODY_base="token=$album_b" BODY_cur="token=$album_c" AUTHORIZATION=$rs_auth REFILL= \
    pair_measure "$label" introspect_album post.lua /oauth/introspect
  BODY_base="token=garbage-0123456789abcdef" BODY_cur="token=garbage-0123456789abcdef" \
    AUTHORIZATION=$rs_auth REFILL= pair_measure "$label" introspect_garbage post.lua /oauth/introspect
  note "baseline-$label" peak_rss_mb "$(peak_rss_mb "$BSPID")"
  note "current-$label" peak_rss_mb "$(peak_rss_mb "$SPID")"
  stop_server
  SPID=$BSPID BSPID=
  stop_server
}

report_compare() {
  # compare.tsv: 1 database, 2 scenario, 3-4 req/s, 5-6 p50, 7-8 p99 (medians, baseline then
  # current), 9-10 errors, 11 req/s ratio of each pair, 12-13 req/s of each run, 14 p99 ratio of
  # each pair, 15-16 median of the pair ratios (req/s, p99)
  echo "== comparison: current / baseline (median of $RUNS interleaved runs each; errors summed)"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "| database | scenario | baseline req/s | current req/s | ratio of medians | median ratio per pair | req/s ratio of each pair | baseline p99 ms | current p99 ms | ratio of medians | median ratio per pair | errors (baseline/current) |"
  echo "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
  awk -F'\t' '{
    printf "| %s | %s | %d | %d | %s | %.3f | %s | %.2f | %.2f | %s | %.3f | %d/%d |\n", $1, $2, $3, $4,
      ($3 > 0 ? sprintf("%.3f", $4 / $3) : "?"), $15, $11, $7, $8, ($7 > 0 ? sprintf("%.3f", $8 / $7) : "?"), $16, $9, $10
  }' "$W/compare.tsv"
  echo
  echo "== verdict: slower by more than $THRESHOLD % = the median of the pairs' current / baseline ratios below $(awk -v t="$THRESHOLD" 'BEGIN {printf "%.3f", 1 - t / 100}') for req/s, or above $(awk -v t="$THRESHOLD" 'BEGIN {printf "%.3f", 1 + t / 100}') for p99"
  awk -F'\t' -v t="$THRESHOLD" '
    {
      r = $15; p = $16; why = ""
      if (r < 1 - t / 100) why = sprintf("req/s %+.1f %%", 100 * (r - 1))
      if (p > 1 + t / 100) why = why (why == "" ? "" : ", ") sprintf("p99 %+.1f %%", 100 * (p - 1))
      tag = "ok"
      if ($9 + $10 > 0) {
        tag = "ERRORS"; errs++; elist = elist " " $1 "/" $2
        why = why (why == "" ? "" : ", ") sprintf("errors %d/%d: not comparable", $9, $10)
      } else if (why != "") { tag = "SLOWER"; slower++; list = list " " $1 "/" $2 }
      printf "%-7s %s/%s: req/s x%.3f, p99 x%.3f (req/s of each pair: %s)%s\n", tag, $1, $2, r, p, $11, (why == "" ? "" : "  <- " why)
      n++
    }
    END {
      printf "summary: %d of %d scenarios slower by more than %s %%%s", slower + 0, n, t, (slower ? ":" list : "")
      printf "%s\n", (errs ? sprintf("; %d with errors, not judged:%s", errs, elist) : "")
    }' "$W/compare.tsv"
  echo
  echo "| server | measure | value |"
  echo "|---|---|---:|"
  awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$W/notes.tsv"
}

# --- node-oidc-provider -----------------------------------------------------------------------
bench_node() {
  echo "== node-oidc-provider ($NODE_PEER)"
  (cd "$NODE_PEER" && NODE_ENV=production PORT=$NODE_PORT exec "${PRIO[@]}" taskset -c "$SERVER_CPU" node server.mjs \
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

if [ -n "$BASELINE" ]; then
  bench_compare sqlite "sqlite://$W/sqlite/prep/tessera.db?mode=rwc" 0
  [ "$SCALE" = 0 ] || bench_compare sqlite-1m "sqlite://$W/sqlite-1m/prep/tessera.db?mode=rwc" "$SCALE_ROWS"
  if [ -n "$PG_URL" ]; then
    bench_compare postgres "$(pg_database empty)" 0
    [ "$SCALE" = 0 ] || bench_compare postgres-1m "$(pg_database scale)" "$SCALE_ROWS"
  fi
  report_compare
  exit 0
fi
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
