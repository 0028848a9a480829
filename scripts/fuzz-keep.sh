#!/usr/bin/env bash
# Keeps what the fuzzers found: merges each target's .fuzz-work/<target> into the checked-in
# Fuzz/corpus/<target>, adding only the inputs that add coverage (libFuzzer's -merge=1), so
# fuzzing on the next machine starts where this one stopped. Run after `make fuzz`.
#   scripts/fuzz-keep.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
# Every target has its folder in Fuzz/corpus: the list is not written out a second time here.
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls Fuzz/corpus)
export SWIFT_BACKTRACE=enable=no
for target in "${targets[@]}"; do
    [ -d ".fuzz-work/$target" ] || continue
    before=$(ls "Fuzz/corpus/$target" | wc -l)
    ".build-fuzz/debug/fuzz-$target" -merge=1 -rss_limit_mb=2048 "Fuzz/corpus/$target" ".fuzz-work/$target" >".fuzz-work/$target.merge.log" 2>&1
    echo "$target: $before -> $(ls "Fuzz/corpus/$target" | wc -l) inputs"
done
