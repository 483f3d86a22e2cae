#!/usr/bin/env bash
# Operations figures, cairn beside real etcd 3.4 on this machine:
#
#   1. defragment under write load: the longest put and the p99 while
#      `etcdctl defrag` runs, cairn vs etcd in one run (etcd's defrag blocks
#      its backend; cairn's takes a snapshot while serving);
#   2. a new member catching up: a single member is loaded with DATA_MB of
#      values (1 KiB each), a second is added with `etcdctl member add` and
#      started; the time from its start until it serves the last key.
#
#   bench/maintenance.sh               DATA_MB=1024, DEFRAG_KEYS=200000
#   DATA_MB=64 DEFRAG_KEYS=20000 bench/maintenance.sh    a quick run
#
# Needs release binaries (cargo build --release -p cairn-server -p cairn-bench,
# or SKIP_BUILD=1 with them built) and /usr/bin/etcd, etcdctl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench
ETCD=${ETCD:-/usr/bin/etcd}
DATA_MB=${DATA_MB:-1024}
DEFRAG_KEYS=${DEFRAG_KEYS:-200000}
LOAD_SECONDS=${LOAD_SECONDS:-12}
export ETCDCTL_API=3

WORK=$(mktemp -d /tmp/cairn-maintenance.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p cairn-server -p cairn-bench)
fi

# start <binary> <name> <client port> <peer port> <dir> [flags...]: echoes the pid.
start() {
  local binary=$1 name=$2 client=$3 peer=$4 dir=$5
  shift 5
  "$binary" --name "$name" --data-dir "$dir" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --quota-backend-bytes 8589934592 "$@" >"$dir.log" 2>&1 &
  echo $!
}

wait_ready() {
  local endpoint=$1
  for _ in $(seq 1 400); do
    etcdctl --endpoints="$endpoint" endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "not ready: $endpoint" >&2
  return 1
}

# --- 1. defragment under load ----------------------------------------------
defrag_run() {
  local system=$1 binary=$2 client=$3 peer=$4
  local dir=$WORK/$system-defrag
  local pid
  pid=$(start "$binary" m1 "$client" "$peer" "$dir" --initial-cluster "m1=http://127.0.0.1:$peer")
  PIDS+=("$pid")
  wait_ready "127.0.0.1:$client"
  "$BENCH" --endpoints "127.0.0.1:$client" --conns 10 --clients 100 --total "$DEFRAG_KEYS" put \
    --key-size 32 --val-size 512 --key-space-size "$DEFRAG_KEYS" --sequential-keys >/dev/null
  # Overwrite half, compact: a defragment then has space to give back.
  "$BENCH" --endpoints "127.0.0.1:$client" --conns 10 --clients 100 --total $((DEFRAG_KEYS / 2)) put \
    --key-size 32 --val-size 512 --key-space-size "$DEFRAG_KEYS" --sequential-keys >/dev/null
  local rev
  rev=$(etcdctl --endpoints="127.0.0.1:$client" endpoint status -w json | grep -o '"revision":[0-9]*' | head -1 | cut -d: -f2)
  etcdctl --endpoints="127.0.0.1:$client" compaction --physical "$rev" >/dev/null
  # Steady writes (a fixed rate, so both systems carry the same load), a
  # defragment in the middle.
  "$BENCH" --endpoints "127.0.0.1:$client" --conns 4 --clients 16 --duration "$LOAD_SECONDS" \
    --rate 2000 --json --label "$system" --title defrag \
    put --key-size 32 --val-size 512 --key-space-size 100000 >"$WORK/$system-defrag.json" &
  local bench=$!
  sleep $((LOAD_SECONDS / 3))
  local started ended
  started=$(date +%s%N)
  etcdctl --endpoints="127.0.0.1:$client" --command-timeout=120s defrag >/dev/null
  ended=$(date +%s%N)
  wait "$bench"
  local summary
  summary=$("$BENCH" summary "$WORK/$system-defrag.json" | tail -1)
  # summary: file title label workload count errors rps p50 p99 max ...
  echo -e "$system\t$(( (ended - started) / 1000000 ))\t$(echo "$summary" | cut -f6,8,9,10)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

log "defragment under a steady 2,000 puts/s after $DEFRAG_KEYS keys"
echo -e "system\tdefrag_ms\terrors\tp50_us\tp99_us\tmax_us" >"$WORK/defrag.tsv"
defrag_run etcd "$ETCD" 44100 44101 >>"$WORK/defrag.tsv"
defrag_run cairn "$CAIRN" 44500 44501 >>"$WORK/defrag.tsv"
column -t "$WORK/defrag.tsv"

# --- 2. a new member catches up -------------------------------------------
catchup_run() {
  local system=$1 binary=$2 base=$3
  local keys=$((DATA_MB * 1024))
  local dir1=$WORK/$system-m1 dir2=$WORK/$system-m2
  local c1=$base p1=$((base + 1)) c2=$((base + 10)) p2=$((base + 11))
  local pid1 pid2
  pid1=$(start "$binary" m1 "$c1" "$p1" "$dir1" --initial-cluster "m1=http://127.0.0.1:$p1")
  PIDS+=("$pid1")
  wait_ready "127.0.0.1:$c1"
  log "$system: loading $keys keys of 1 KiB ($DATA_MB MB)"
  "$BENCH" --endpoints "127.0.0.1:$c1" --conns 10 --clients 200 --total "$keys" put \
    --key-size 16 --val-size 1024 --key-space-size "$keys" --sequential-keys >/dev/null
  local last_key
  last_key=$(etcdctl --endpoints="127.0.0.1:$c1" get "" --from-key --keys-only --limit 1 --sort-by=KEY --order=DESCEND | head -1)
  etcdctl --endpoints="127.0.0.1:$c1" member add m2 --peer-urls="http://127.0.0.1:$p2" >/dev/null
  local started
  started=$(date +%s%N)
  pid2=$(start "$binary" m2 "$c2" "$p2" "$dir2" \
    --initial-cluster "m1=http://127.0.0.1:$p1,m2=http://127.0.0.1:$p2" --initial-cluster-state existing)
  PIDS+=("$pid2")
  for _ in $(seq 1 6000); do
    if [ -n "$(etcdctl --endpoints="127.0.0.1:$c2" get "$last_key" --consistency=s --keys-only 2>/dev/null)" ]; then
      break
    fi
    sleep 0.1
  done
  local ended rss
  ended=$(date +%s%N)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid2/status")
  echo -e "$system\t$DATA_MB\t$(( (ended - started) / 1000000 ))\t$((rss / 1024))"
  kill "$pid1" "$pid2"
  wait "$pid1" "$pid2" 2>/dev/null || true
}

log "a new member catching up on $DATA_MB MB"
echo -e "system\tdata_mb\tcatch_up_ms\tnew_member_peak_rss_mib" >"$WORK/catchup.tsv"
catchup_run etcd "$ETCD" 44200 >>"$WORK/catchup.tsv"
catchup_run cairn "$CAIRN" 44600 >>"$WORK/catchup.tsv"
column -t "$WORK/catchup.tsv"
