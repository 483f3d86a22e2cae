#!/usr/bin/env bash
# v2 API figures, cairn beside real etcd 3.4 (--enable-v2) on this machine,
# one member each, the same loader (cairn-bench v2-set: PUT /v2/keys/<key>
# over HTTP/1.1 keep-alive connections, one per client):
#
#   1. v2 set throughput and latency with 1 client and with 100 clients,
#      ROUNDS alternating rounds of SECONDS each (etcd, cairn, etcd, cairn);
#   2. memory for KEYS v2 keys (VALUE_BYTES each): each server loaded from
#      fresh with KEYS sequential sets, then its VmRSS (and before loading).
#
#   bench/v2.sh                        SECONDS=10 ROUNDS=2 KEYS=1000000
#   KEYS=100000 SECONDS=3 bench/v2.sh  a quick run
#
# Needs release binaries (cargo build --release -p cairn-server -p cairn-bench,
# or SKIP_BUILD=1 with them built) and /usr/bin/etcd.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench
ETCD=${ETCD:-/usr/bin/etcd}
RUN_SECONDS=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-2}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-256}
export ETCDCTL_API=3

WORK=$(mktemp -d /tmp/cairn-v2bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p cairn-server -p cairn-bench)
fi

rss_kib() {
  local k v _
  while read -r k v _; do
    if [ "$k" = "$2:" ]; then echo "$v"; return; fi
  done <"/proc/$1/status"
  echo 0
}

# start <binary> <name> <dir>: starts a member on 127.0.0.1:43379/43380 with
# the v2 API; sets PID.
start() {
  local binary=$1 name=$2 dir=$3
  "$binary" --name "$name" --data-dir "$dir" --enable-v2=true \
    --listen-client-urls http://127.0.0.1:43379 --advertise-client-urls http://127.0.0.1:43379 \
    --listen-peer-urls http://127.0.0.1:43380 --initial-advertise-peer-urls http://127.0.0.1:43380 \
    --initial-cluster "$name=http://127.0.0.1:43380" \
    --quota-backend-bytes 8589934592 >"$dir.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  # Ready once a write succeeds (a leader is elected).
  for _ in $(seq 1 400); do
    curl -sf -XPUT http://127.0.0.1:43379/v2/keys/ready -d value=1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $name (see $dir.log)" >&2
  return 1
}

stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  sleep 0.5
}

# bench <label> <clients> <args...>: one cairn-bench run, its JSON to a file.
bench() {
  local label=$1 clients=$2
  shift 2
  "$BENCH" --endpoints http://127.0.0.1:43379 --clients "$clients" --json --label "$label" \
    --title "v2 set, $clients clients" "$@" 2>>"$WORK/bench.err"
}

printf "%-6s %-8s %7s %12s %10s %10s %10s %7s\n" system clients round "sets/s" "p50 ms" "p99 ms" "max ms" errors
for clients in 1 100; do
  for round in $(seq 1 "$ROUNDS"); do
    for system in etcd cairn; do
      binary=$ETCD; [ "$system" = cairn ] && binary=$CAIRN
      dir=$WORK/$system-$clients-$round
      start "$binary" "$system" "$dir"
      out=$WORK/$system-$clients-$round.json
      bench "$system" "$clients" --duration "$RUN_SECONDS" v2-set --key-size 8 \
        --key-space-size 100000 --val-size "$VALUE_BYTES" >"$out"
      stop "$PID"
      python3 - "$out" "$system" "$clients" "$round" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"]
ms = lambda v: v / 1000.0
print("%-6s %-8s %7s %12.0f %10.2f %10.2f %10.2f %7d" % (sys.argv[2], sys.argv[3], sys.argv[4],
      r["throughput_per_s"], ms(l["percentiles"].get("p50", 0)), ms(l["percentiles"].get("p99", 0)),
      ms(l["max"]), r["errors_total"]))
PY
    done
  done
done

echo
printf "%-6s %10s %14s %14s %16s\n" system keys "rss before MiB" "rss after MiB" "bytes/key (rss)"
for system in etcd cairn; do
  binary=$ETCD; [ "$system" = cairn ] && binary=$CAIRN
  dir=$WORK/$system-memory
  start "$binary" "$system" "$dir"
  before=$(rss_kib "$PID" VmRSS)
  bench "$system" 100 --total "$KEYS" v2-set --sequential-keys --key-size 16 \
    --key-space-size "$KEYS" --val-size "$VALUE_BYTES" >"$WORK/$system-memory.json"
  sleep 2
  after=$(rss_kib "$PID" VmRSS)
  count=$(curl -s "http://127.0.0.1:43379/v2/keys/$(printf "%016d" $((KEYS - 1)))" | python3 -c 'import json,sys; print("present" if "node" in json.load(sys.stdin) else "missing")')
  stop "$PID"
  printf "%-6s %10s %14.0f %14.0f %16.0f   (last key %s)\n" "$system" "$KEYS" \
    "$(echo "$before / 1024" | bc -l)" "$(echo "$after / 1024" | bc -l)" \
    "$(echo "($after - $before) * 1024 / $KEYS" | bc -l)" "$count"
done
