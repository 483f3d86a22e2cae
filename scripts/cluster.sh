#!/usr/bin/env bash
# Starts the 3-member cluster of the Procfile in the background, in ./cluster-data,
# and prints the PIDs. Stop it with: kill $(cat cluster-data/*.pid)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin cairn
mkdir -p cluster-data
cluster='infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380'
for i in 1 2 3; do
  client="http://127.0.0.1:${i}2379"; peer="http://127.0.0.1:${i}2380"
  [ "$i" = 1 ] && client="http://127.0.0.1:2379"
  target/release/cairn --name "infra$i" --data-dir "cluster-data/infra$i.etcd" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster-token cairn-cluster-1 --initial-cluster "$cluster" \
    --initial-cluster-state new > "cluster-data/infra$i.log" 2>&1 &
  echo $! > "cluster-data/infra$i.pid"
  echo "infra$i: pid $! client $client peer $peer (log cluster-data/infra$i.log)"
done
