#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with the seed corpus: seed-* files made from the repository's data
# and from a ledger built with the `lode` binary. Run it from anywhere; it replaces the seed-*
# files and leaves what libFuzzer added to the corpus alone. docs/fuzzing.md describes the seeds.
#
#   fuzz/seed-corpus.sh            builds `lode` (release) first
#   LODE=/path/to/lode fuzz/seed-corpus.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
corpus="$root/fuzz/corpus"
if [ -z "${LODE:-}" ]; then
    (cd "$root" && cargo build --release --quiet --bin lode)
    LODE="${CARGO_TARGET_DIR:-$root/target}/release/lode"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

targets=(parse_event rules record proofs checkpoint_bundle http_body)
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t"
    rm -f "$corpus/$t"/seed-*
done

# Writes each line of a file (without its line feed) as a seed of a target: seed-<name>-<n>.
lines_as_seeds() { # file target name
    local n=0
    while IFS= read -r line || [ -n "$line" ]; do
        [ -z "$line" ] && continue
        n=$((n + 1))
        printf '%s' "$line" >"$corpus/$2/seed-$3-$(printf '%03d' "$n")"
    done <"$1"
}

# Events as clients submit them: the demo, the sample, and a generated history.
demo="$root/data/demo/events.jsonl"
sample="$root/data/sample/events.jsonl"
"$LODE" generate --lots 20 >"$work/generated.jsonl"
lines_as_seeds "$demo" parse_event demo
lines_as_seeds "$sample" parse_event sample
lines_as_seeds "$work/generated.jsonl" parse_event generated

# Request bodies: single events, and arrays of them.
lines_as_seeds "$sample" http_body sample
{ printf '['; paste -sd, "$sample"; printf ']'; } >"$corpus/http_body/seed-sample-array"
{ printf '['; head -n 24 "$demo" | paste -sd,; printf ']'; } >"$corpus/http_body/seed-demo-array"
{ printf '[\n  '; head -n 3 "$work/generated.jsonl" | paste -sd,; printf '\n]\n'; } >"$corpus/http_body/seed-generated-array"

# Records, from the demo's ledger: each alone, runs of four, and the whole export.
"$LODE" --data-dir "$work/demo" append "$demo" >/dev/null
"$LODE" --data-dir "$work/demo" export log --out "$work/demo.log" >/dev/null
lines_as_seeds "$work/demo.log" record demo
for start in 1 40 80 120; do
    sed -n "${start},$((start + 3))p" "$work/demo.log" >"$corpus/record/seed-demo-run-$(printf '%03d' "$start")"
done
cp "$work/demo.log" "$corpus/record/seed-demo-export"

# A checkpoint note, its body, the key files and an audit bundle of the demo's magnet lot.
"$LODE" keygen --out "$work/operator" --name lode-operator >/dev/null
"$LODE" --data-dir "$work/demo" checkpoint --key "$work/operator.key" >"$work/checkpoint"
cp "$work/checkpoint" "$corpus/checkpoint_bundle/seed-checkpoint"
sed '/^$/,$d' "$work/checkpoint" >"$corpus/checkpoint_bundle/seed-checkpoint-body"
cp "$work/operator.pub" "$corpus/checkpoint_bundle/seed-key-pub"
cp "$work/operator.key" "$corpus/checkpoint_bundle/seed-key-secret"
"$LODE" --data-dir "$work/demo" bundle JP-MAG-2025-0001 --key "$work/operator.key" --out "$work/bundle.json" >/dev/null
cp "$work/bundle.json" "$corpus/checkpoint_bundle/seed-bundle"

# `rules` and `proofs` read structured input (the arbitrary crate) from raw bytes: a few streams
# of varied bytes give libFuzzer somewhere to start besides the empty input. Runs of 0x00 or 0xff
# would only pick the first or last choice of every enum.
for t in rules proofs; do
    for m in 37 73 151; do
        LC_ALL=C awk -v m="$m" 'BEGIN { x = m; for (i = 0; i < 512; i++) { x = (x * 1103 + 12345) % 65536; printf "%c", int(x / 256) } }' \
            >"$corpus/$t/seed-bytes-$m"
    done
done

for t in "${targets[@]}"; do
    printf '%-18s %4d seeds, %s\n' "$t" "$(ls "$corpus/$t" | grep -c '^seed-')" "$(du -sh "$corpus/$t" | cut -f1)"
done
