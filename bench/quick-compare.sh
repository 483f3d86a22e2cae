#!/usr/bin/env bash
# A first side-by-side throughput check (the full comparison is cairn-bench's
# job, still to come). Starts N members of the given binary on loopback, runs
# the load example against them, stops them.
#
#   cargo build --release --bin cairn --example load
#   bench/quick-compare.sh target/release/cairn cairn 1
#   bench/quick-compare.sh /usr/bin/etcd etcd 1        # Debian's etcd-server
set -euo pipefail
BIN=$1; TAG=$2; N=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d "/tmp/quick-compare-$TAG.XXXX")
CLUSTER=""; for i in $(seq 1 "$N"); do CLUSTER="$CLUSTER${CLUSTER:+,}m$i=http://127.0.0.1:$((41380+i*100))"; done
EPS=""; PIDS=()
for i in $(seq 1 "$N"); do
  c=$((41379+i*100)); p=$((41380+i*100)); EPS="$EPS${EPS:+,}127.0.0.1:$c"
  "$BIN" --name "m$i" --data-dir "$DIR/m$i" --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$CLUSTER" --initial-cluster-token quick > "$DIR/log$i" 2>&1 &
  PIDS+=($!)
done
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 4
LOAD=$ROOT/target/release/examples/load
echo "== $TAG members=$N"
"$LOAD" --endpoints "$EPS" --op put --clients 1 --conns 1 --seconds 5
"$LOAD" --endpoints "$EPS" --op put --clients 64 --conns 8 --seconds 5
"$LOAD" --endpoints "$EPS" --op get --clients 64 --conns 8 --seconds 5
"$LOAD" --endpoints "$EPS" --op get-s --clients 64 --conns 8 --seconds 5
