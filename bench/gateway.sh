#!/usr/bin/env bash
# The cost of the /v3 JSON gateway against gRPC, cairn beside real etcd 3.4
# on this machine, one member each, the same loader (cairn-bench): put and
# range of one existing key, over gRPC (put, range) and over the gateway
# (gateway-put, gateway-range: POST /v3/kv/... over HTTP/1.1 keep-alive, one
# connection per client), with 1 client and with CLIENTS clients (gRPC over
# CONNS connections). Prints requests/s of each and the ratio gateway ÷ gRPC
# per server, all from one run.
#
#   bench/gateway.sh                   TOTAL=5000 CLIENTS=16 CONNS=4
#
# Needs release binaries (cargo build --release -p cairn-server -p cairn-bench,
# or SKIP_BUILD=1 with them built) and /usr/bin/etcd.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench
ETCD=${ETCD:-/usr/bin/etcd}
TOTAL=${TOTAL:-5000}
CLIENTS=${CLIENTS:-16}
CONNS=${CONNS:-4}
PORT=${PORT:-43479}
PEER=$((PORT + 1))

WORK=$(mktemp -d /tmp/cairn-gwbench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p cairn-server -p cairn-bench)
fi

start() {
  local binary=$1 name=$2
  "$binary" --name "$name" --data-dir "$WORK/$name" \
    --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$PEER" --initial-advertise-peer-urls "http://127.0.0.1:$PEER" \
    --initial-cluster "$name=http://127.0.0.1:$PEER" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 400); do
    # The key the range benchmarks read ("foo" = "bar").
    curl -sf -X POST "http://127.0.0.1:$PORT/v3/kv/put" -d '{"key":"Zm9v","value":"YmFy"}' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $name" >&2
  return 1
}

rate() {
  "$BENCH" --endpoints "127.0.0.1:$PORT" --total "$TOTAL" --json "$@" \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput_per_s"]))'
}

printf '%-6s %-22s %10s %10s %7s\n' server workload grpc/s gateway/s ratio
for server in etcd cairn; do
  binary=$CAIRN
  [ "$server" = etcd ] && binary=$ETCD
  start "$binary" "$server"
  for load in "1 1" "$CLIENTS $CONNS"; do
    set -- $load
    for op in put range; do
      if [ "$op" = put ]; then
        grpc=$(rate --clients "$1" --conns "$2" put --key-size 8 --val-size 256)
        http=$(rate --clients "$1" gateway-put --key-size 8 --val-size 256)
      else
        grpc=$(rate --clients "$1" --conns "$2" range foo)
        http=$(rate --clients "$1" gateway-range foo)
      fi
      printf '%-6s %-22s %10s %10s %7s\n' "$server" "$op, $1 clients" "$grpc" "$http" \
        "$(python3 -c "print(f'{$http/$grpc:.2f}')")"
    done
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
