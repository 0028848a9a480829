#!/usr/bin/env bash
# The test suite under ThreadSanitizer, then AddressSanitizer (`make test-sanitize`), each in
# its own build directory. Every process (the test runner, stream-server, audio-worker,
# load-client) writes any report to sanitizer-reports/; one report fails the run.
#   scripts/test-sanitize.sh [thread|address]...
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
reports="$PWD/sanitizer-reports"
failed=0
for sanitizer in "${sanitizers[@]}"; do
    rm -rf "${reports:?}/$sanitizer" && mkdir -p "$reports/$sanitizer"
    started=$(date +%s)
    status=0
    TSAN_OPTIONS="log_path=$reports/$sanitizer/report halt_on_error=0" \
        ASAN_OPTIONS="log_path=$reports/$sanitizer/report detect_leaks=0" \
        swift test --sanitize="$sanitizer" --build-path ".build-$sanitizer" >"$reports/$sanitizer.log" 2>&1 || status=$?
    grep -E '✘|Test run with' "$reports/$sanitizer.log" | tail -20 || true
    found=$(ls "$reports/$sanitizer" | wc -l)
    echo "$sanitizer: tests exit $status, $found report(s), $(( $(date +%s) - started )) s (log: $reports/$sanitizer.log)"
    if [ "$found" != 0 ]; then head -50 "$reports/$sanitizer"/*; failed=1; fi
    [ "$status" = 0 ] || failed=1
done
exit $failed
