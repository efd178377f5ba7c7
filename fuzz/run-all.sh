#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 600), one after another, and prints one summary
# line per target: executions, executions per second, corpus size, crashes. Arguments after N go
# to libFuzzer (for example -rss_limit_mb=4096). docs/fuzzing.md explains the targets.
#
#   fuzz/run-all.sh            600 s per target, one hour in all
#   fuzz/run-all.sh 60         a smoke run
#
# Each target's full libFuzzer output is kept in fuzz/target/campaign/<target>.log; crashing
# inputs land in fuzz/artifacts/<target>/. Exits 1 when a target crashed or failed to run.
set -uo pipefail

seconds=${1:-600}
shift $(($# > 0 ? 1 : 0))
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [LIBFUZZER_ARGS...]" >&2
    exit 2
    ;;
esac

cd "$(dirname "$0")"
targets=(parse_event rules record proofs checkpoint_bundle http_body block)
logs=target/campaign
mkdir -p "$logs"

echo "building the targets (cargo +nightly fuzz build)"
if ! cargo +nightly fuzz build >"$logs/build.log" 2>&1; then
    echo "the build failed; see fuzz/$logs/build.log" >&2
    exit 1
fi

# Counts the findings libFuzzer wrote for a target: crash-, leak-, oom- and timeout- files.
findings() {
    find "artifacts/$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) 2>/dev/null | wc -l
}

failed=0
printf '%-18s %12s %9s %8s %10s %8s  %s\n' target executions exec/s corpus "size" crashes outcome
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    before=$(findings "$t")
    # A hang of a minute on one input is a finding, not a slow input.
    cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -timeout=60 -print_final_stats=1 "$@" >"$log" 2>&1
    status=$?
    crashes=$(($(findings "$t") - before))
    # libFuzzer's final statistics; the last status line (`#N ... corp: FILES/SIZE ...`) for the corpus.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    status_line=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(printf '%s' "$status_line" | sed -n 's/^#\([0-9]*\).*/\1/p')
    corpus=$(printf '%s' "$status_line" | sed -n 's/.*corp: \([0-9]*\)\/.*/\1/p')
    size=$(printf '%s' "$status_line" | sed -n 's/.*corp: [0-9]*\/\([0-9]*[bKM]*b\).*/\1/p')
    if [ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]; then
        outcome=ok
    else
        outcome="FAILED (exit $status), see fuzz/$log"
        failed=1
    fi
    printf '%-18s %12s %9s %8s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "${size:-?}" "$crashes" "$outcome"
done
exit "$failed"
