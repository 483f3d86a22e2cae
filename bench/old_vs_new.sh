#!/usr/bin/env bash
# Put throughput and latency of two cairn binaries, alternating rounds, with
# the same cairn-bench: for showing a refactor changed nothing measurable.
#
#   bench/old_vs_new.sh OLD_CAIRN NEW_CAIRN [BENCH]
#
# Environment: ROUNDS (default 3), DURATION (seconds per run, default 10).
# Each round starts a fresh one-member data dir for each binary, runs
# `put --conns 100 --clients 1000` (etcd's benchmark's wide put), and prints
# one line per run: binary, round, requests/s, p99 ms, slowest ms.
set -euo pipefail
OLD=$1
NEW=$2
BENCH=${3:-target/release/cairn-bench}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
PORT=44100
WORK=$(mktemp -d /tmp/cairn-old-vs-new.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

run() {
  local name=$1 binary=$2 round=$3
  local dir=$WORK/$name-$round client=http://127.0.0.1:$PORT peer=http://127.0.0.1:$((PORT + 1))
  "$binary" --name m1 --data-dir "$dir" --listen-client-urls "$client" \
    --advertise-client-urls "$client" --listen-peer-urls "$peer" \
    --initial-advertise-peer-urls "$peer" --initial-cluster "m1=$peer" >"$WORK/$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    timeout 5 "$BENCH" --endpoints "127.0.0.1:$PORT" --total 1 put --key-prefix ready/ \
      >/dev/null 2>&1 && break
    sleep 0.2
  done
  local json
  json=$(timeout $((DURATION + 120)) "$BENCH" --endpoints "127.0.0.1:$PORT" --json \
    --conns 100 --clients 1000 --duration "$DURATION" \
    put --key-size 8 --val-size 256 --key-space-size 100000 --key-prefix put/)
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
  python3 - "$name" "$round" "$json" <<'PY'
import json, sys
name, rnd, text = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.loads(text)
lat = r["latency_us"]
print(f"{name}\tround {rnd}\t{r['throughput_per_s']:.0f}/s\tp99 {lat['percentiles']['p99'] / 1000:.1f} ms\tslowest {lat['max'] / 1000:.1f} ms\terrors {r['errors_total']}")
PY
}

for round in $(seq 1 "$ROUNDS"); do
  run old "$OLD" "$round"
  run new "$NEW" "$round"
done
