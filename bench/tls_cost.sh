#!/usr/bin/env bash
# The throughput cost of TLS: one cairn member serving the same data over
# http:// and https:// (client-cert-auth, an ECDSA P-256 CA made here with
# openssl), loaded by cairn-bench alternately over each, ROUNDS times; prints
# per workload the median throughput over each, their ratio, and the server's
# CPU time per request (from /proc/<pid>/stat).
#
#   bench/tls_cost.sh            # ROUNDS=5 TOTAL=20000 by default
#
# Workloads: put and serializable range, each with 1 connection / 1 client and
# 100 connections / 1000 clients. Ports 43600-43603 on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ROUNDS=${ROUNDS:-5}
TOTAL=${TOTAL:-20000}
RUN_TIMEOUT_S=600

WORK=$(mktemp -d /tmp/cairn-tls-cost.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release --bin cairn --bin cairn-bench >&2)
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench

cd "$WORK"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -subj "/CN=tls cost CA" -days 2 -out ca.pem 2>/dev/null
for name in server client; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
done

"$CAIRN" --name tls-cost --data-dir "$WORK/data" \
  --listen-client-urls http://127.0.0.1:43601,https://127.0.0.1:43602 \
  --advertise-client-urls http://127.0.0.1:43601 \
  --listen-peer-urls http://127.0.0.1:43603 --initial-advertise-peer-urls http://127.0.0.1:43603 \
  --initial-cluster tls-cost=http://127.0.0.1:43603 \
  --cert-file server.pem --key-file server.key --trusted-ca-file ca.pem --client-cert-auth \
  2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q "ready to serve client requests" "$WORK/server.log" && break
  sleep 0.1
done
grep -q "ready to serve client requests" "$WORK/server.log" || {
  cat "$WORK/server.log" >&2
  echo "tls_cost.sh: the member did not start" >&2
  exit 1
}

HTTP=(--endpoints http://127.0.0.1:43601)
HTTPS=(--endpoints https://127.0.0.1:43602 --cacert ca.pem --cert client.pem --key client.key)
KV=(--key-size 8 --val-size 256 --key-space-size 100000)
"$BENCH" "${HTTP[@]}" --total 1 put --key-size 1 --val-size 256 --key-prefix range/ >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
# one <workload> <mode> <cairn-bench args...>: a line of results.tsv
one() {
  local workload=$1 mode=$2
  shift 2
  local before after json
  before=$(cpu_ticks)
  json=$(timeout "$RUN_TIMEOUT_S" "$BENCH" "$@" --json)
  after=$(cpu_ticks)
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
ticks = int(sys.argv[2])
print("%s\t%s\t%.1f\t%d\t%.1f" % (sys.argv[3], sys.argv[4], d["throughput_per_s"],
      d["errors_total"], ticks * 10000.0 / max(d["count"], 1)))
' "$json" "$((after - before))" "$workload" "$mode" >>results.tsv
}

: >results.tsv
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  for mode in http https; do
    if [ "$mode" = http ]; then endpoint=("${HTTP[@]}"); else endpoint=("${HTTPS[@]}"); fi
    one put-1 "$mode" "${endpoint[@]}" --conns 1 --clients 1 --total "$TOTAL" put "${KV[@]}"
    one put-1000 "$mode" "${endpoint[@]}" --conns 100 --clients 1000 --total "$TOTAL" put "${KV[@]}"
    one range-s-1 "$mode" "${endpoint[@]}" --conns 1 --clients 1 --total "$TOTAL" \
      range range/0 --consistency s
    one range-s-1000 "$mode" "${endpoint[@]}" --conns 100 --clients 1000 --total "$TOTAL" \
      range range/0 --consistency s
  done
done

python3 - results.tsv <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    workload, mode, throughput, errors, cpu = line.rstrip("\n").split("\t")
    if int(errors):
        print(f"warning: {workload} over {mode}: {errors} errors", file=sys.stderr)
    rows[workload][mode].append((float(throughput), float(cpu)))
print("workload        http req/s  https req/s  https/http  server CPU us/req http  https")
for workload, modes in rows.items():
    http = statistics.median(t for t, _ in modes["http"])
    https = statistics.median(t for t, _ in modes["https"])
    cpu_http = statistics.median(c for _, c in modes["http"])
    cpu_https = statistics.median(c for _, c in modes["https"])
    print(f"{workload:14} {http:11.0f} {https:12.0f} {https / http:11.2f} "
          f"{cpu_http:21.0f} {cpu_https:6.0f}")
EOF
