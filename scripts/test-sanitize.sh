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
# No Swift backtracer in the tests' deliberately crashing workers (it forks a helper, which
# TSan's runtime cannot follow, and reads the crashed process's memory, which ASan reports);
# timing-sensitive tests stretch their clocks for the sanitizers' slowdown (TestTime.scale), and
# the servers' default timeouts stretch the same way (a test's own flags still win).
export SWIFT_BACKTRACE=enable=no CALLSTREAM_TEST_TIME_SCALE=4
export CALLSTREAM_IDLE_TIMEOUT=240 CALLSTREAM_WORKER_TIMEOUT=40 CALLSTREAM_REQUEST_TIMEOUT=120 CALLSTREAM_SEND_TIMEOUT=120
# Swift's continuations synchronise inside the uninstrumented concurrency runtime, which TSan
# cannot see (swiftlang/swift#57803): those reports are false positives.
suppressions="$PWD/scripts/tsan-suppressions.txt"
failed=0
for sanitizer in "${sanitizers[@]}"; do
    rm -rf "${reports:?}/$sanitizer" && mkdir -p "$reports/$sanitizer"
    started=$(date +%s)
    status=0
    TSAN_OPTIONS="log_path=$reports/$sanitizer/report halt_on_error=0 suppressions=$suppressions" \
        ASAN_OPTIONS="log_path=$reports/$sanitizer/report detect_leaks=0" \
        swift test --sanitize="$sanitizer" --build-path ".build-$sanitizer" >"$reports/$sanitizer.log" 2>&1 || status=$?
    grep -E '✘|Test run with' "$reports/$sanitizer.log" | tail -20 || true
    found=$(ls "$reports/$sanitizer" | wc -l)
    echo "$sanitizer: tests exit $status, $found report(s), $(( $(date +%s) - started )) s (log: $reports/$sanitizer.log)"
    if [ "$found" != 0 ]; then head -50 "$reports/$sanitizer"/*; failed=1; fi
    [ "$status" = 0 ] || failed=1
done
exit $failed
