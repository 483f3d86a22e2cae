#!/usr/bin/env bash
# Side-by-side benchmark of cairn and real etcd 3.4 with cairn-bench.
#
#   bench/compare.sh             full run (about 20 minutes on 2 cores): writes
#                                bench/RESULTS.md and bench/latency.svg
#   QUICK=1 bench/compare.sh     3-second runs, 100k keys for the memory workload
#   bench/compare.sh --smoke     a few seconds against one cairn member (for CI);
#                                writes nothing under bench/
#
# Environment: DURATION (seconds per run), MEMORY_KEYS, CHECK_PERF=0 (skip
# `etcdctl check perf`), SKIP_BUILD=1, KEEP=1 (keep the work dir),
# ETCD (default /usr/bin/etcd), CARGO_TARGET_DIR (where the binaries are built).
#
# Both systems run with the same flags and topology (1 member, then 3 members
# on loopback), fresh data dirs per system and topology, and get the same
# workloads alternately (etcd, cairn, etcd, cairn, ...). Clients run on the
# same machine as the servers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CAIRN=$TARGET/release/cairn
BENCH=$TARGET/release/cairn-bench
ETCD=${ETCD:-/usr/bin/etcd}
MODE=full
[ "${1:-}" = "--smoke" ] && MODE=smoke
if [ "${QUICK:-0}" = 1 ]; then
  DURATION=${DURATION:-3}
  MEMORY_KEYS=${MEMORY_KEYS:-100000}
else
  DURATION=${DURATION:-10}
  MEMORY_KEYS=${MEMORY_KEYS:-1000000}
fi
CHECK_PERF=${CHECK_PERF:-1}
# Ports (43000-43999): member i of etcd listens on 43100+10i (client) and
# 43101+10i (peer); cairn on 43500+10i and 43501+10i.
declare -A PORT_BASE=([etcd]=43100 [cairn]=43500)
# Upper bounds on one cairn-bench call (seconds): a hung run fails, not the machine.
RUN_TIMEOUT_S=$((DURATION + 120))
LOAD_TIMEOUT_S=1200
READY_TIMEOUT_S=40

WORK=$(mktemp -d /tmp/cairn-compare.XXXXXX)
RUNS=$WORK/runs.tsv
: > "$RUNS"
declare -A PIDS_OF=() ENDPOINTS_OF=() DIR_OF=()
ALL_PIDS=()
FAILURES=0
TOPOLOGY=""
TOPOLOGY_TAG=""

log() { echo "[$(date +%T)] $*" >&2; }
die() {
  echo "compare.sh: FAILED: $*" >&2
  exit 1
}

cleanup() {
  local pid
  for pid in "${ALL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${ALL_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_etcd() {
  if [ -x "$ETCD" ] && command -v etcdctl >/dev/null; then return; fi
  [ "$(id -u)" = 0 ] || die "etcd is missing and installing it needs root"
  log "installing etcd-server and etcd-client"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server etcd-client
  [ -x "$ETCD" ] || die "$ETCD still missing after apt-get install"
}

build() {
  if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "skipping the build (SKIP_BUILD=1)"
  else
    log "building cairn and cairn-bench (release)"
    (cd "$ROOT" && cargo build --release --bin cairn --bin cairn-bench)
  fi
  [ -x "$CAIRN" ] || die "no $CAIRN"
  [ -x "$BENCH" ] || die "no $BENCH"
}

# start_cluster SYSTEM MEMBERS TAG: fresh data dirs, same flags for both systems.
# The ports lie in the kernel's ephemeral range, so an outgoing connection can
# hold one for a moment: a member that cannot bind makes the start begin again.
START_ATTEMPTS=3
start_cluster() {
  local system=$1 members=$2 tag=$3 attempt
  for attempt in $(seq 1 $START_ATTEMPTS); do
    launch_members "$system" "$members" "$tag"
    if wait_ready "$system"; then
      log "$system: $members member(s) ready (pids ${PIDS_OF[$system]})"
      return
    fi
    if ! grep -qi "address already in use" "${DIR_OF[$system]}"/*.log; then
      tail -n 20 "${DIR_OF[$system]}"/*.log >&2
      die "$system: a member exited during start-up"
    fi
    log "$system: a port was taken (attempt $attempt of $START_ATTEMPTS); starting again"
    stop_cluster "$system"
    sleep 2
  done
  die "$system: could not bind its ports in $START_ATTEMPTS attempts"
}

launch_members() {
  local system=$1 members=$2 tag=$3 binary base cluster="" endpoints="" pids="" i client peer
  case $system in
    etcd) binary=$ETCD ;;
    cairn) binary=$CAIRN ;;
  esac
  base=${PORT_BASE[$system]}
  local dir=$WORK/$system-$tag
  rm -rf "$dir"
  mkdir -p "$dir"
  for i in $(seq 1 "$members"); do
    cluster="$cluster${cluster:+,}m$i=http://127.0.0.1:$((base + 10 * i + 1))"
  done
  for i in $(seq 1 "$members"); do
    client=http://127.0.0.1:$((base + 10 * i))
    peer=http://127.0.0.1:$((base + 10 * i + 1))
    "$binary" --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-token "compare-$system-$tag" \
      --initial-cluster-state new --heartbeat-interval 100 --election-timeout 1000 \
      --snapshot-count 100000 > "$dir/m$i.log" 2>&1 &
    ALL_PIDS+=($!)
    pids="$pids${pids:+ }$!"
    endpoints="$endpoints${endpoints:+,}127.0.0.1:$((base + 10 * i))"
  done
  PIDS_OF[$system]=$pids
  ENDPOINTS_OF[$system]=$endpoints
  DIR_OF[$system]=$dir
}

# Ready means every member answers and a write through each one commits.
# Returns 1 if a member exited; fails the script on time-out.
wait_ready() {
  local system=$1 deadline=$((SECONDS + READY_TIMEOUT_S)) endpoint pid ok
  while :; do
    for pid in ${PIDS_OF[$system]}; do
      kill -0 "$pid" 2>/dev/null || return 1
    done
    ok=1
    for endpoint in ${ENDPOINTS_OF[$system]//,/ }; do
      if ! timeout 10 "$BENCH" --endpoints "$endpoint" --total 1 --request-timeout 3 --json \
        put --key-prefix ready/ >/dev/null 2>&1; then
        ok=0
        break
      fi
    done
    [ $ok = 1 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "${DIR_OF[$system]}"/*.log >&2
      die "$system not ready after ${READY_TIMEOUT_S}s"
    fi
    sleep 0.5
  done
}

stop_cluster() {
  local system=$1 pid
  for pid in ${PIDS_OF[$system]}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${PIDS_OF[$system]}; do wait "$pid" 2>/dev/null || true; done
  PIDS_OF[$system]=""
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
write_bytes() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io"; }

sum_write_bytes() {
  local total=0 pid
  for pid in ${PIDS_OF[$1]}; do total=$((total + $(write_bytes "$pid"))); done
  echo $total
}

# bench SYSTEM NAME TITLE CAIRN-BENCH-ARGS...: one recorded run.
bench() {
  local system=$1 name=$2 title=$3
  shift 3
  local out=$WORK/results/$TOPOLOGY_TAG-$name-$system.json limit=$RUN_TIMEOUT_S
  case $name in load-* | memory-*) limit=$LOAD_TIMEOUT_S ;; esac
  mkdir -p "$WORK/results"
  local before status=ok pid rss_list="" rss_sum=0 rss
  before=$(sum_write_bytes "$system")
  log "$TOPOLOGY $name on $system: cairn-bench $*"
  if ! timeout "$limit" "$BENCH" --endpoints "${ENDPOINTS_OF[$system]}" --json \
    --label "$system" --title "$title ($TOPOLOGY)" "$@" > "$out" 2> "$out.stderr"; then
    status=FAILED
    FAILURES=$((FAILURES + 1))
    echo "compare.sh: WARNING: $name on $system failed:" >&2
    tail -n 5 "$out.stderr" >&2
  fi
  # etcd commits its backend every 100 ms: let the last writes land.
  sleep 1
  for pid in ${PIDS_OF[$system]}; do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=CRASHED
      FAILURES=$((FAILURES + 1))
      echo "compare.sh: WARNING: $system member pid $pid died during $name" >&2
      tail -n 20 "${DIR_OF[$system]}"/*.log >&2
      continue
    fi
    rss=$(rss_kb "$pid")
    rss_sum=$((rss_sum + rss))
    rss_list="$rss_list${rss_list:+ / }$((rss / 1024))"
  done
  local written=$(($(sum_write_bytes "$system") - before))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$TOPOLOGY" "$name" "$system" "$out" "$written" \
    "$rss_list" "$rss_sum" "$status" >> "$RUNS"
  [ $status = CRASHED ] && die "$system crashed"
  return 0
}

# Each workload on etcd, then on cairn.
both() {
  local system
  for system in etcd cairn; do bench "$system" "$@"; done
}

BIG=10000
KV=(--key-size 8 --val-size 256 --key-space-size 100000)
WIDE=(--conns 100 --clients 1000 --duration "$DURATION")

run_topology() {
  local members=$1
  TOPOLOGY="$members member"
  [ "$members" -gt 1 ] && TOPOLOGY="$members members"
  TOPOLOGY_TAG=m$members
  local tag=m$members
  start_cluster etcd "$members" "$tag"
  start_cluster cairn "$members" "$tag"
  both put-1 "put, 1 client" --conns 1 --clients 1 --duration "$DURATION" put "${KV[@]}" --key-prefix put1/
  both put-1000 "put, 1000 clients" "${WIDE[@]}" put "${KV[@]}" --key-prefix put1000/
  both seed-range "seed range key" --total 1 put --key-size 1 --val-size 256 --key-prefix range/
  both range-l-1000 "range linearizable, 1000 clients" "${WIDE[@]}" range range/0 --consistency l
  both range-s-1000 "range serializable, 1000 clients" "${WIDE[@]}" range range/0 --consistency s
  both txn-put-1000 "txn-put, 1000 clients" "${WIDE[@]}" txn-put "${KV[@]}" --key-prefix txn/
  both watch-latency "watch-latency, 1000 watchers" --conns 10 --clients 1 --duration "$DURATION" \
    watch-latency --watchers 1000 --streams 10 --put-rate 100 --val-size 256
  both load-10k "load $BIG keys" --conns 10 --clients 100 --total $BIG \
    put --sequential-keys --key-size 8 --val-size 256 --key-space-size $BIG --key-prefix big/
  both range-10k "range of $BIG keys, 10 clients" --conns 10 --clients 10 --duration "$DURATION" \
    range big/ --prefix
  stop_cluster etcd
  stop_cluster cairn
  # Memory after many keys, on fresh clusters so earlier history does not count.
  start_cluster etcd "$members" "$tag-memory"
  start_cluster cairn "$members" "$tag-memory"
  both memory-keys "put $MEMORY_KEYS keys of 256 B" --conns 100 --clients 1000 --total "$MEMORY_KEYS" \
    put --sequential-keys --key-size 8 --val-size 256 --key-space-size "$MEMORY_KEYS" --key-prefix mem/
  stop_cluster etcd
  stop_cluster cairn
}

# check perf writes 60 s of 1 KiB values: its own fresh single member per system.
CHECK_PERF_RESULT=""
run_check_perf() {
  local system output code
  for system in cairn etcd; do
    start_cluster "$system" 1 check-perf
    log "etcdctl check perf --load=l against $system (60 s)"
    code=0
    output=$(ETCDCTL_API=3 timeout 240 etcdctl --endpoints "${ENDPOINTS_OF[$system]}" \
      check perf --load=l 2>&1) || code=$?
    echo "$output" > "$WORK/check-perf-$system.txt"
    local verdict=PASS
    [ $code = 0 ] || verdict="FAIL (exit $code)"
    CHECK_PERF_RESULT+="| $system | $verdict | $(echo "$output" | tr -d '\r' | grep -E '^(PASS|FAIL)|took|Stddev' |
      sed 's/|/\\|/g' | paste -sd ';' | sed 's/;/<br>/g') |"$'\n'
    stop_cluster "$system"
  done
}

smoke() {
  TOPOLOGY=smoke
  TOPOLOGY_TAG=smoke
  start_cluster cairn 1 smoke
  local args=(--conns 2 --clients 8)
  bench cairn put put "${args[@]}" --total 500 put --val-size 64 --key-space-size 100 --key-size 3
  bench cairn range-l range "${args[@]}" --total 500 range 000 --prefix
  bench cairn range-s range-s "${args[@]}" --total 500 range 000 --consistency s --keys-only
  bench cairn txn-put txn-put "${args[@]}" --total 200 txn-put --txn-ops 3 --key-space-size 100 --key-size 3
  bench cairn txn-mixed txn-mixed "${args[@]}" --total 200 txn-mixed --key-space-size 100 --key-size 3
  bench cairn lease lease "${args[@]}" --total 200 lease-keepalive
  bench cairn watch watch --conns 2 --clients 2 --total 100 watch --watchers 20 --streams 2 \
    --watched-key-total 4 --put-rate 200
  bench cairn watch-latency watch-latency --conns 2 --total 50 watch-latency --watchers 20 --put-rate 200
  stop_cluster cairn
  local json errors
  for json in "$WORK"/results/*.json; do
    "$BENCH" summary "$json" | awk -F'\t' '{ printf "%-20s %6d ok %4d errors %9.0f/s p99 %6d us\n", $4, $5, $6, $7, $9 }'
    errors=$("$BENCH" summary "$json" | cut -f6)
    [ "$errors" = 0 ] || die "errors in $json: $("$BENCH" summary "$json" | cut -f11)"
  done
  "$BENCH" chart --out "$WORK/smoke.svg" "$WORK"/results/*.json
  [ "$FAILURES" = 0 ] || die "$FAILURES run(s) failed"
  log "smoke: all green"
}

# ---- RESULTS.md -------------------------------------------------------------

# figures: topology, workload, system, count, errors, req/s, p50, p99, max,
# error kinds, bytes written, RSS list (MiB), RSS sum (KiB), status.
tabulate() {
  local topology name system json written rss_list rss_sum status line
  : > "$WORK/figures.tsv"
  while IFS=$'\t' read -r topology name system json written rss_list rss_sum status; do
    line=$("$BENCH" summary "$json" 2>/dev/null | cut -f5-11) || line=$'0\t0\t0\t0\t0\t0\t-'
    [ -n "$line" ] || line=$'0\t0\t0\t0\t0\t0\t-'
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$topology" "$name" "$system" "$line" "$written" \
      "$rss_list" "$rss_sum" "$status" >> "$WORK/figures.tsv"
  done < "$RUNS"
}

# field TOPOLOGY WORKLOAD SYSTEM COLUMN (4 count, 5 errors, 6 req/s, 7 p50, 8 p99,
# 9 max, 10 error kinds, 11 bytes written, 12 RSS list, 13 RSS sum, 14 status)
field() {
  awk -F'\t' -v t="$1" -v w="$2" -v s="$3" -v c="$4" '$1 == t && $2 == w && $3 == s { print $c }' \
    "$WORK/figures.tsv"
}

# ratio A B [BETTER: high|low] [TARGET]: cairn/etcd, with a mark against the target.
ratio() {
  awk -v a="$1" -v b="$2" -v better="${3:-}" -v target="${4:-}" 'BEGIN {
    if (b + 0 == 0 || a + 0 == 0) { print "n/a"; exit }
    r = a / b; mark = ""
    if (target != "") {
      ok = (better == "high") ? (r >= target) : (r <= target)
      mark = ok ? " ✅" : " ❌"
    }
    printf "%.2f×%s", r, mark
  }'
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
rate() { awk -v r="$1" 'BEGIN { printf "%.0f", r }'; }
per_put() {
  awk -v bytes="$1" -v puts="$2" 'BEGIN { if (puts + 0 == 0) print "n/a"; else printf "%.0f", bytes / puts }'
}

write_results() {
  local results=$ROOT/bench/RESULTS.md topology name title tput_target p99_target e c
  tabulate
  local json_files=()
  local file
  while IFS=$'\t' read -r _ name _ file _; do
    case $name in seed-* | load-*) ;; *) json_files+=("$file") ;; esac
  done < "$RUNS"
  "$BENCH" chart --out "$ROOT/bench/latency.svg" \
    --chart-title "cairn vs etcd $("$ETCD" --version | awk '/etcd Version/ { print $3 }'): latency by percentile" \
    "${json_files[@]}"
  {
    echo "# cairn vs etcd: side by side"
    echo
    echo "Written by \`bench/compare.sh\` ($( [ "${QUICK:-0}" = 1 ] && echo "QUICK=1, " )${DURATION} s per run," \
      "$MEMORY_KEYS keys for the memory workload) on $(date -u +%Y-%m-%d)."
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
      "$(uname -sr); servers and clients share it (loopback)"
    echo "- etcd: $("$ETCD" --version | awk '/etcd Version/ { print $3 }') ($ETCD)"
    echo "- cairn: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
      "$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo "(with uncommitted changes)")"
    echo "- same flags for both: --heartbeat-interval 100 --election-timeout 1000 --snapshot-count 100000;" \
      "fresh data dirs per system and topology; workloads alternate etcd, cairn"
    echo "- client: cairn-bench (one gRPC client for both); keys 8 B after a prefix, values 256 B"
    echo "- one run per figure, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end: on a small shared" \
      "machine repeat before trusting a ratio near its target"
    echo
    echo "## Throughput and tail latency"
    echo
    echo "Ratio = cairn / etcd. ✅/❌ against the targets (throughput ≥ target; p99 ≤ target)."
    echo
    for topology in "1 member" "3 members"; do
      grep -q "^$topology"$'\t' "$WORK/figures.tsv" || continue
      echo "### $topology"
      echo
      echo "| workload | etcd req/s | cairn req/s | throughput ratio | etcd p99 ms | cairn p99 ms | p99 ratio | errors etcd / cairn |"
      echo "|---|---:|---:|---:|---:|---:|---:|---|"
      for name in put-1 put-1000 range-l-1000 range-s-1000 txn-put-1000 watch-latency range-10k memory-keys; do
        e=$(field "$topology" $name etcd 6)
        [ -n "$e" ] || continue
        c=$(field "$topology" $name cairn 6)
        tput_target=""
        p99_target=""
        case $name in
          put-1) tput_target=1.5 ;;
          put-1000) tput_target=2.0 p99_target=0.5 ;;
          range-l-1000 | range-s-1000) tput_target=1.5 ;;
        esac
        case $name in
          put-1) title="put, 1 conn / 1 client" ;;
          put-1000) title="put, 100 conns / 1000 clients" ;;
          range-l-1000) title="range linearizable, 100 conns / 1000 clients" ;;
          range-s-1000) title="range serializable, 100 conns / 1000 clients" ;;
          txn-put-1000) title="txn-put (1 put), 100 conns / 1000 clients" ;;
          watch-latency) title="watch-latency: 1000 watchers, 100 puts/s (events/s; put→event latency)" ;;
          range-10k) title="range of $BIG keys (~2.7 MB responses), 10 clients" ;;
          memory-keys) title="put $MEMORY_KEYS keys, 1000 clients (load phase)" ;;
        esac
        echo "| $title | $(rate "$e") | $(rate "$c") | $(ratio "$c" "$e" high $tput_target) |" \
          "$(ms "$(field "$topology" $name etcd 8)") | $(ms "$(field "$topology" $name cairn 8)") |" \
          "$(ratio "$(field "$topology" $name cairn 8)" "$(field "$topology" $name etcd 8)" low $p99_target) |" \
          "$(field "$topology" $name etcd 5) / $(field "$topology" $name cairn 5) |"
      done
      echo
    done
    echo "## Memory (VmRSS after the workload, MiB per member)"
    echo
    echo "Target for the memory workload: cairn ≤ 0.5× etcd (sum over members)."
    echo
    echo "| topology | after | etcd | cairn | ratio (sum) |"
    echo "|---|---|---:|---:|---:|"
    for topology in "1 member" "3 members"; do
      for name in put-1000 range-l-1000 watch-latency range-10k memory-keys; do
        e=$(field "$topology" $name etcd 13)
        [ -n "$e" ] || continue
        local target=""
        [ $name = memory-keys ] && target=0.5
        echo "| $topology | $name | $(field "$topology" $name etcd 12) | $(field "$topology" $name cairn 12) |" \
          "$(ratio "$(field "$topology" $name cairn 13)" "$e" low $target) |"
      done
    done
    echo
    echo "## Disk bytes written per committed put"
    echo
    echo "/proc/PID/io write_bytes of every member, delta over the run (plus 1 s), summed over"
    echo "the members, divided by the successful puts. Target: cairn ≤ 0.5× etcd."
    echo
    echo "| topology | workload | etcd B/put | cairn B/put | ratio |"
    echo "|---|---|---:|---:|---:|"
    for topology in "1 member" "3 members"; do
      for name in put-1 put-1000 txn-put-1000 load-10k memory-keys; do
        e=$(field "$topology" $name etcd 4)
        [ -n "$e" ] || continue
        local eb cb
        eb=$(per_put "$(field "$topology" $name etcd 11)" "$e")
        cb=$(per_put "$(field "$topology" $name cairn 11)" "$(field "$topology" $name cairn 4)")
        echo "| $topology | $name | $eb | $cb | $(ratio "$cb" "$eb" low 0.5) |"
      done
    done
    echo
    echo "## etcdctl check perf --load=l (one member, fresh)"
    echo
    if [ -n "$CHECK_PERF_RESULT" ]; then
      echo "| system | result | output |"
      echo "|---|---|---|"
      printf '%s' "$CHECK_PERF_RESULT"
    else
      echo "Not run (CHECK_PERF=0)."
    fi
    echo
    echo "## Errors and failed runs"
    echo
    if awk -F'\t' '$5 != 0 || $14 != "ok" { found = 1 } END { exit !found }' "$WORK/figures.tsv"; then
      echo "| topology | workload | system | status | errors |"
      echo "|---|---|---|---|---|"
      awk -F'\t' '$5 != 0 || $14 != "ok" { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $14, $10 }' \
        "$WORK/figures.tsv"
    else
      echo "None: every request of every run succeeded."
    fi
    echo
    echo "## Latency distributions"
    echo
    echo "![latency by percentile](latency.svg)"
    echo
    echo "## All runs"
    echo
    echo "| topology | workload | system | requests | errors | req/s | p50 ms | p99 ms | max ms | RSS MiB |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' '$2 !~ /^seed-/ { printf "| %s | %s | %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, $6, $7 / 1000, $8 / 1000, $9 / 1000, $12 }' \
      "$WORK/figures.tsv"
  } > "$results"
  log "wrote $results and $ROOT/bench/latency.svg"
}

main() {
  build
  if [ $MODE = smoke ]; then
    smoke
    return
  fi
  ensure_etcd
  local started=$SECONDS
  run_topology 1
  run_topology 3
  if [ "$CHECK_PERF" != 0 ]; then run_check_perf; fi
  write_results
  log "done in $((SECONDS - started)) s; $FAILURES failed run(s)"
  [ "$FAILURES" = 0 ] || die "$FAILURES run(s) failed (see bench/RESULTS.md)"
}

main
