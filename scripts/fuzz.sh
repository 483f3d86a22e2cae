#!/usr/bin/env bash
# Fuzzes every decoder that outside input reaches, for a bounded time.
#
#   scripts/fuzz.sh [seconds-per-target]      (default 60)
#
# With `cargo +nightly fuzz` available: builds fuzz/ once, then runs each
# target for the given seconds on a scratch copy of fuzz/corpus/<target> (the
# committed seed corpus is never written to), and prints executions and the
# corpus size per target. A crash stops the script with the input saved under
# fuzz/artifacts/<target>/ and the replay command.
#
# Without it: says so and runs the same bodies as stable property tests with
# more cases (CAIRN_FUZZ_CASES, scaled to the seconds asked for).
#
# Environment: CARGO_TARGET_DIR (default: target/ at the root; fuzz builds go
# to its fuzz/ subdirectory), FUZZ_TARGETS (a space-separated subset),
# FUZZ_JOBS (libFuzzer workers per target, default 1).
set -euo pipefail
shopt -s nullglob

seconds="${1:-60}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
all_targets="peer_frame log_payload wal_record wal_recovery snapshot_file grpc_request auth_token bbolt_file etcd_wal etcd_import v2_request gateway_json"
targets="${FUZZ_TARGETS:-$all_targets}"
jobs="${FUZZ_JOBS:-1}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cases=$((seconds * 2000))
    [ "$cases" -ge 5000 ] || cases=5000
    echo "cargo +nightly fuzz is not available (rustup toolchain install nightly;" \
        "cargo install cargo-fuzz): running the stable property tests with" \
        "CAIRN_FUZZ_CASES=$cases instead."
    cd "$root"
    export CARGO_TARGET_DIR="$target_dir"
    CAIRN_FUZZ_CASES="$cases" cargo test -p cairn-core --test fuzz_decoders
    CAIRN_FUZZ_CASES="$cases" cargo test -p cairn-server --test fuzz_requests
    CAIRN_FUZZ_CASES="$cases" cargo test -p cairn-bbolt --test corrupt
    CAIRN_FUZZ_CASES="$cases" cargo test -p cairn-etcd-wal --test wal
    exit 0
fi

cd "$root/fuzz"
fuzz_target_dir="$target_dir/fuzz"
cargo +nightly fuzz build --target-dir "$fuzz_target_dir"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

printf '%-14s %12s %10s %12s\n' target executions corpus "corpus bytes"
for target in $targets; do
    corpus="$scratch/$target"
    mkdir -p "$corpus"
    cp "corpus/$target/"* "$corpus/" 2>/dev/null || true
    log="$scratch/$target.log"
    # -rss_limit_mb: a decoder that allocates from a length field fails here.
    options=(-max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1)
    if [ "$jobs" -gt 1 ]; then
        options+=(-jobs="$jobs" -workers="$jobs")
    fi
    if ! cargo +nightly fuzz run --target-dir "$fuzz_target_dir" "$target" "$corpus" -- \
        "${options[@]}" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "FUZZ FAILURE in $target: the input is in fuzz/artifacts/$target/; replay with:" >&2
        echo "  cd fuzz && cargo +nightly fuzz run $target artifacts/$target/<file>" >&2
        exit 1
    fi
    # With FUZZ_JOBS > 1 each worker logs to fuzz-<n>.log in fuzz/.
    executions="$(cat "$log" "$root/fuzz/fuzz-"*.log 2>/dev/null \
        | awk '/stat::number_of_executed_units:/ { sum += $2 } END { print sum + 0 }')"
    files="$(find "$corpus" -type f | wc -l)"
    bytes="$(find "$corpus" -type f -exec cat {} + | wc -c)"
    printf '%-14s %12s %10s %12s\n' "$target" "$executions" "$files" "$bytes"
    rm -f "$root/fuzz/fuzz-"*.log
done
