#!/usr/bin/env bash
# A/B of `database.check_bypass_window` on one PostgreSQL database: the same binary twice, A with
# the default window (500ms: a connection that answered within it skips the checkout's SELECT 1),
# B with 0s (SELECT 1 on every checkout), read through an uncached unit of database work
# (`GET /api/v1/workflows?limit=20&offset=10`: a page and its count), wrk -t2 -c64 in alternating
# rounds (order flipped every other round); prints each round's req/s, p99 and A ÷ B.
#
#   cargo build --release --bin maestro
#   MAESTRO_BIN=target/release/maestro PG=postgres://postgres@127.0.0.1:5432 benches/db_checkout_ab.sh
#
# Knobs: ROUNDS (10), SECS (10), PORT_A (8101), PORT_B (8102). Needs wrk, psql and curl; creates
# the database maestro_checkout_ab (dropped first and at the end).
set -euo pipefail
BIN="$(realpath "${MAESTRO_BIN:-target/release/maestro}")"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
ROUNDS="${ROUNDS:-10}" SECS="${SECS:-10}" PORT_A="${PORT_A:-8101}" PORT_B="${PORT_B:-8102}"
DB=maestro_checkout_ab
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB"
psql "$PG/postgres" -qc "CREATE DATABASE $DB"
WORK="$(mktemp -d)"
export MAESTRO__DATABASE__URL="$PG/$DB" MAESTRO__MODULES__HEALING=false MAESTRO__MODULES__K8S=false
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
mkdir -p "$WORK/a" "$WORK/b"
(cd "$WORK/a" && "$BIN" migrate >/dev/null &&
  "$BIN" user create --tenant acme --email ab@acme.test --password correct-horse-battery --role admin >/dev/null)
TOKEN="$(cd "$WORK/a" && "$BIN" token --email ab@acme.test)"
(cd "$WORK/a" && MAESTRO__SERVER__PORT=$PORT_A MAESTRO__DATABASE__CHECK_BYPASS_WINDOW=500ms exec "$BIN" serve >"$WORK/a.log" 2>&1) &
PID_A=$!
(cd "$WORK/b" && MAESTRO__SERVER__PORT=$PORT_B MAESTRO__DATABASE__CHECK_BYPASS_WINDOW=0s exec "$BIN" serve >"$WORK/b.log" 2>&1) &
PID_B=$!
finish() {
  kill "$PID_A" "$PID_B" 2>/dev/null || true
  wait "$PID_A" "$PID_B" 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" || true
  rm -rf "$WORK"
}
trap finish EXIT
for port in $PORT_A $PORT_B; do
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
done
for i in $(seq 40); do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"name\":\"wf-$i\",\"steps\":[{\"id\":\"a\",\"uses\":\"noop\"}]}" "127.0.0.1:$PORT_A/api/v1/workflows"
done
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" >"$WORK/auth.lua"
read_once() { # port seconds -> "req/s p99 non-2xx"
  wrk -t2 -c64 -d"$2"s --latency -s "$WORK/auth.lua" "http://127.0.0.1:$1/api/v1/workflows?limit=20&offset=10" |
    awk '/Requests\/sec/{r=$2} /Non-2xx/{e=$NF} / 99%/{p=$2} END{print r, p, (e ? e : 0)}'
}
read_once "$PORT_A" 3 >/dev/null; read_once "$PORT_B" 3 >/dev/null
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then a=$(read_once "$PORT_A" "$SECS"); b=$(read_once "$PORT_B" "$SECS")
  else b=$(read_once "$PORT_B" "$SECS"); a=$(read_once "$PORT_A" "$SECS"); fi
  echo "round $round: window 500ms $a | 0s $b | ratio $(echo "$a $b" | awk '{printf "%.3f", $1/$4}')"
done
