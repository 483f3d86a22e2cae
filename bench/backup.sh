#!/usr/bin/env bash
# Backup and restore figures, cairn beside real etcd 3.4 on this machine:
#
#   1. `etcdctl snapshot save` from a single member holding KEYS keys
#      (VALUE_BYTES each, loaded by cairn-bench into both): wall time, file
#      size, MB/s, and the server's peak extra VmRSS during the save (sampled
#      from /proc every ~20 ms, minus its VmRSS just before); `etcdctl
#      snapshot status` of both files;
#   2. importing etcd's backup: `etcdctl snapshot restore` of etcd's file,
#      then cairn and etcd each started on a copy of the restored data dir;
#      the time from process start until it serves the last key, and the
#      number of keys each serves.
#
#   bench/backup.sh                    KEYS=1000000, VALUE_BYTES=256
#   KEYS=100000 bench/backup.sh        a quick run
#   KEEP_WORK=1 ...                    keep the data dirs, logs and files
#
# Needs release binaries (cargo build --release -p cairn-server -p cairn-bench,
# or SKIP_BUILD=1 with them built) and /usr/bin/etcd, etcdctl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench
ETCD=${ETCD:-/usr/bin/etcd}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-256}
KEY_BYTES=16
# Longest wait for a member to serve the last key after its start.
SERVE_TIMEOUT=${SERVE_TIMEOUT:-300}
export ETCDCTL_API=3

WORK=$(mktemp -d /tmp/cairn-backup.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log() { echo "[$(date +%T)] $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p cairn-server -p cairn-bench)
fi

# The loader's keys are zero-padded decimal numbers; the last one written:
LAST_KEY=$(printf "%0${KEY_BYTES}d" $((KEYS - 1)))

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

# stop <pid>: ends a server and waits until it is gone (its ports free). The
# servers are started inside $(...), so they are not this shell's children
# and `wait` alone would return at once.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  sleep 0.5
}

# rss_kib <pid> <field>: a field of /proc/<pid>/status in KiB (VmRSS, RssAnon, VmHWM).
rss_kib() {
  local k v _
  while read -r k v _; do
    if [ "$k" = "$2:" ]; then echo "$v"; return; fi
  done <"/proc/$1/status"
  echo 0
}

# sample_rss <pid> <out>: until <out>.stop exists (or the process ends),
# reads VmRSS and RssAnon every ~20 ms and keeps the peaks in <out> as
# "peak_rss_kib peak_anon_kib". Reads with builtins: only `sleep` forks.
sample_rss() {
  local pid=$1 out=$2 peak=0 anon=0 k v _ changed
  local limit=$(( 30000 * 50 ))  # 30,000 s at most, whatever happens
  while [ ! -e "$out.stop" ] && [ -e "/proc/$pid/status" ] && [ "$limit" -gt 0 ]; do
    changed=0
    while read -r k v _; do
      case $k in
        VmRSS:) if [ "$v" -gt "$peak" ]; then peak=$v; changed=1; fi ;;
        RssAnon:) if [ "$v" -gt "$anon" ]; then anon=$v; changed=1; fi ;;
      esac
    done <"/proc/$pid/status" 2>/dev/null || true
    if [ "$changed" = 1 ]; then echo "$peak $anon" >"$out"; fi
    sleep 0.02
    limit=$((limit - 1))
  done
}

# count_keys <endpoint>: the number of keys the member serves (a range's
# count is of every key in it, whatever its limit; etcdctl 3.4 has no --count-only).
count_keys() {
  etcdctl --endpoints="$1" --command-timeout=120s get "" --from-key --keys-only --limit 1 -w json \
    | grep -o '"count":[0-9]*' | cut -d: -f2
}

# wait_serving <endpoint> <start ms> <pid>: polls until the last key is
# served (linearizable get); echoes the ms since <start ms>, or fails (also
# as soon as <pid> has exited).
wait_serving() {
  local endpoint=$1 started=$2 pid=$3
  local deadline=$((SECONDS + SERVE_TIMEOUT))
  for _ in $(seq 1 $((SERVE_TIMEOUT * 20))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the server (pid $pid) exited before serving $LAST_KEY" >&2
      return 1
    fi
    if [ -n "$(etcdctl --endpoints="$endpoint" --dial-timeout=1s --command-timeout=2s \
        get "$LAST_KEY" --keys-only 2>/dev/null)" ]; then
      echo $(( $(now_ms) - started ))
      return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.05
  done
  echo "$endpoint did not serve $LAST_KEY within ${SERVE_TIMEOUT}s" >&2
  return 1
}

# --- 1. snapshot save ---------------------------------------------------------
save_run() {
  local system=$1 binary=$2 client=$3 peer=$4
  local dir=$WORK/$system-src file=$WORK/$system.db
  local pid
  pid=$(start "$binary" m1 "$client" "$peer" "$dir" --initial-cluster "m1=http://127.0.0.1:$peer")
  PIDS+=("$pid")
  wait_ready "127.0.0.1:$client"
  log "$system: loading $KEYS keys of $VALUE_BYTES B"
  local load_started load_ms
  load_started=$(now_ms)
  "$BENCH" --endpoints "127.0.0.1:$client" --conns 10 --clients 200 --total "$KEYS" put \
    --key-size "$KEY_BYTES" --val-size "$VALUE_BYTES" --key-space-size "$KEYS" --sequential-keys >/dev/null
  load_ms=$(( $(now_ms) - load_started ))
  local keys
  keys=$(count_keys "127.0.0.1:$client")
  sleep 2 # let the last writes settle before the baseline
  local before sampler
  before=$(rss_kib "$pid" VmRSS)
  local before_anon
  before_anon=$(rss_kib "$pid" RssAnon)
  echo "$before $before_anon" >"$WORK/$system.rss"
  sample_rss "$pid" "$WORK/$system.rss" &
  sampler=$!
  PIDS+=("$sampler")
  log "$system: snapshot save ($keys keys)"
  local started ended
  started=$(now_ms)
  etcdctl --endpoints="127.0.0.1:$client" --command-timeout=600s snapshot save "$file" >"$WORK/$system.save.log" 2>&1 \
    || { echo "$system: snapshot save failed:" >&2; cat "$WORK/$system.save.log" >&2; return 1; }
  ended=$(now_ms)
  touch "$WORK/$system.rss.stop"
  wait "$sampler" 2>/dev/null || true
  local peak peak_anon
  read -r peak peak_anon <"$WORK/$system.rss"
  local bytes ms
  bytes=$(stat -c %s "$file")
  ms=$((ended - started))
  etcdctl snapshot status "$file" -w table >"$WORK/$system.status" 2>&1 || true
  # system keys load_ms save_ms MB MB/s rss_before_MiB extra_rss_MiB extra_anon_MiB
  echo -e "$system\t$keys\t$load_ms\t$ms\t$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1e6}')\t$(awk -v b="$bytes" -v ms="$ms" 'BEGIN {printf "%.1f", b / 1e6 / (ms / 1000)}')\t$((before / 1024))\t$(( (peak - before) / 1024 ))\t$(( (peak_anon - before_anon) / 1024 ))"
  stop "$pid"
}

log "load average $(cut -d' ' -f1-3 /proc/loadavg); snapshot save after $KEYS keys of $VALUE_BYTES B"
echo -e "system\tkeys\tload_ms\tsave_ms\tfile_MB\tMB/s\trss_before_MiB\tpeak_extra_rss_MiB\tpeak_extra_anon_MiB" >"$WORK/save.tsv"
save_run etcd "$ETCD" 44300 44301 >>"$WORK/save.tsv"
save_run cairn "$CAIRN" 44700 44701 >>"$WORK/save.tsv"
column -t "$WORK/save.tsv"
for system in etcd cairn; do
  echo "etcdctl snapshot status $system.db -w table"
  cat "$WORK/$system.status"
done

# --- 2. restore etcd's backup, start on it ------------------------------------
RPEER=44401
RCLIENT=44400
restore() {
  local file=$1 dir=$2
  etcdctl snapshot restore "$file" --data-dir "$dir" --name r1 \
    --initial-cluster "r1=http://127.0.0.1:$RPEER" --initial-advertise-peer-urls "http://127.0.0.1:$RPEER" \
    >"$dir.restore.log" 2>&1 || { echo "restore of $file failed:" >&2; cat "$dir.restore.log" >&2; return 1; }
}

log "etcdctl snapshot restore of etcd's file"
started=$(now_ms)
restore "$WORK/etcd.db" "$WORK/restored"
restore_ms=$(( $(now_ms) - started ))
# For comparison only: etcdctl's restore of cairn's file (checks its hash too).
started=$(now_ms)
restore "$WORK/cairn.db" "$WORK/restored-from-cairn"
restore_cairn_ms=$(( $(now_ms) - started ))
rm -rf "$WORK/restored-from-cairn"
cp -a "$WORK/restored" "$WORK/cairn-import"
cp -a "$WORK/restored" "$WORK/etcd-import"
rm -rf "$WORK/restored"

# Both on the same ports (those the restore wrote into the membership), one after the other.
serve_run() {
  local system=$1 binary=$2
  local dir=$WORK/$system-import
  sync
  local started pid serve_ms keys hwm
  started=$(now_ms)
  pid=$(start "$binary" r1 "$RCLIENT" "$RPEER" "$dir" --initial-cluster "r1=http://127.0.0.1:$RPEER")
  PIDS+=("$pid")
  serve_ms=$(wait_serving "127.0.0.1:$RCLIENT" "$started" "$pid") \
    || { echo "$system on the restored dir: log $dir.log" >&2; tail -20 "$dir.log" >&2; return 1; }
  keys=$(count_keys "127.0.0.1:$RCLIENT")
  hwm=$(rss_kib "$pid" VmHWM)
  # cairn logs its import: the time between its first and last line.
  local import_ms=-
  if grep -q "imported etcd's data directory" "$dir.log"; then
    import_ms=$(grep -E "importing etcd's data directory|imported etcd's data directory" "$dir.log" \
      | awk '{split($2, t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000; if (NR == 1) first = ms; last = ms}
             END {printf "%d", last - first}')
  fi
  echo -e "$system\t$keys\t$serve_ms\t$import_ms\t$((hwm / 1024))"
  stop "$pid"
}

log "starting cairn, then etcd, on copies of the restored data dir"
echo -e "system\tkeys_served\tstart_to_last_key_ms\timport_ms_from_log\tpeak_rss_MiB" >"$WORK/serve.tsv"
serve_run cairn "$CAIRN" >>"$WORK/serve.tsv"
serve_run etcd "$ETCD" >>"$WORK/serve.tsv"
echo "etcdctl snapshot restore: etcd's file ${restore_ms} ms, cairn's file ${restore_cairn_ms} ms"
column -t "$WORK/serve.tsv"
grep -h "imported etcd's data directory" "$WORK/cairn-import.log" || true

# --- summary ------------------------------------------------------------------
ratio() { awk -v c="$1" -v e="$2" 'BEGIN {if (e + 0 == 0) print "-"; else printf "%.2f×", c / e}'; }
field() { awk -F'\t' -v s="$2" -v f="$3" '$1 == s {print $f}' "$WORK/$1.tsv"; }
echo
echo "| figure | etcd | cairn | cairn/etcd |"
echo "|---|---:|---:|---:|"
for spec in "save:4:snapshot save, ms" "save:5:snapshot file, MB" "save:6:snapshot save, MB/s" \
    "save:8:peak extra VmRSS during save, MiB" "save:9:peak extra RssAnon during save, MiB" \
    "serve:3:start on restored dir → last key served, ms" "serve:2:keys served after restore" \
    "serve:5:peak VmRSS after start on restored dir, MiB"; do
  IFS=: read -r table column name <<<"$spec"
  e=$(field "$table" etcd "$column")
  c=$(field "$table" cairn "$column")
  echo "| $name | $e | $c | $(ratio "$c" "$e") |"
done
echo "| etcdctl snapshot restore of the system's file, ms | $restore_ms | $restore_cairn_ms | $(ratio "$restore_cairn_ms" "$restore_ms") |"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
