#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, with AddressSanitizer) in .build-fuzz and runs each for
# N seconds (default 20): `make fuzz SECONDS=N`, or `scripts/fuzz.sh N [target...]`.
# Seeds come from Fuzz/corpus/<target>; what libFuzzer finds goes to .fuzz-work/<target>, a
# crash to .fuzz-work/crash-<target>-*, and every run's wall and CPU seconds (user + system,
# which is what docs/benchmarks.md reports) to .fuzz-work/seconds.tsv. Exits non-zero if any
# target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pipe-frame wav mp3 session-codecs multipart control-message range query twilio audiosocket pbx-metadata)
export CALLSTREAM_FUZZ=1 SWIFT_BACKTRACE=enable=no
flags=(--build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
for target in "${targets[@]}"; do
    swift build "${flags[@]}" --product "fuzz-$target" 2>&1 | grep -v 'Cannot export local symbol' | grep -E 'error:|Fuzz/.*warning: ' || true
    [ -x ".build-fuzz/debug/fuzz-$target" ] || { echo "fuzz-$target did not build"; exit 1; }
done
mkdir -p .fuzz-work
failed=0
printf '%-16s %8s %8s %12s %8s  %s\n' target seconds cpu-s runs corpus result
for target in "${targets[@]}"; do
    mkdir -p ".fuzz-work/$target"
    log=".fuzz-work/$target.log"
    status=0
    # bash's `time` gives the child's user and system seconds: the CPU time actually fuzzed,
    # which is less than the wall time on a busy machine.
    TIMEFORMAT='%U %S'
    { time ".build-fuzz/debug/fuzz-$target" ".fuzz-work/$target" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=".fuzz-work/crash-$target-" >"$log" 2>&1 || status=$?; } 2>".fuzz-work/$target.time"
    cpu=$(awk '{ printf "%.0f", $1 + $2 }' ".fuzz-work/$target.time")
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    corpus=$(ls ".fuzz-work/$target" | wc -l)
    if [ "$status" = 0 ]; then result=ok; else result="CRASH (see $log)"; failed=1; fi
    printf '%-16s %8s %8s %12s %8s  %s\n' "$target" "$seconds" "$cpu" "$runs" "$corpus" "$result"
    printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$seconds" "$cpu" "$runs" >>.fuzz-work/seconds.tsv
done
exit $failed
