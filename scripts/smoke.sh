#!/usr/bin/env bash
# End-to-end smoke test of a built server, as an operator would drive it: start on a free
# port, a live started session (load-client), an upload, a search, a download, a delete, a
# /metrics scrape, then SIGTERM and a clean exit. Each step is checked; any failure stops it.
#   scripts/smoke.sh            the release build (`make smoke` builds it)
#   scripts/smoke.sh --debug    the debug build (CI: the one `make test` built)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/scripts/lib/server-port.sh"
BIN=$ROOT/.build/release
[ "${1:-}" = "--debug" ] && BIN=$ROOT/.build/debug
AUDIO=$ROOT/../shared/audio
DATA=$(mktemp -d /tmp/callstream-smoke-XXXXXX)
LOG=$DATA/server.log

fail() { echo "smoke: FAILED: $*" >&2; echo "--- server log" >&2; tail -30 "$LOG" >&2; exit 1; }
step() { echo "smoke: ok: $*"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

"$BIN/stream-server" --port 0 --data-dir "$DATA" --workers 2 >"$LOG" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
PORT=$(server_port "$LOG" 500)
[ -n "$PORT" ] || fail "the server did not start"
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 250); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.02; done
curl -sf "$BASE/readyz" >/dev/null || fail "not ready"
step "started on port $PORT, ready"

wait_ready() {
  for _ in $(seq 1 500); do
    status=$(curl -sf "$BASE/calls/$1" | json "['status']")
    [ "$status" != processing ] && break
    sleep 0.02
  done
  [ "$status" = ready ] || fail "call $1 is $status"
}

# A live started session: 30 s of μ-law, as fast as the window allows, stopped.
REPORT=$("$BIN/load-client" --url "ws://127.0.0.1:$PORT/api/audio/ws" --wav "$AUDIO/call30_8k.wav" --codec mulaw \
  --chunk-ms 100 --rate-ms 0 --clients 1 --stop --json) || fail "load-client: $REPORT"
[ "$(echo "$REPORT" | json "['ok']")" = True ] || fail "load-client: $REPORT"
LIVE=$(echo "$REPORT" | json "['call_ids'][0]")
wait_ready "$LIVE"
[ "$(curl -sf "$BASE/calls/$LIVE" | json "['recording']['duration_sec'] == 30")" = True ] || fail "live call duration"
[ "$(curl -sf "$BASE/calls/$LIVE/transcript" | json "['segments'].__len__()")" = 300 ] || fail "live transcript"
step "live session: call $LIVE ready, 30.0 s, 300 transcript segments"

# An upload.
CALL=$(curl -sf -X POST -H 'Content-Type: application/json' -H 'X-Request-Id: smoke-1' \
  -d '{"caller":"+1 555 010 4242","receiver":"+15550200","started_at":"2026-11-23T09:30:00Z"}' "$BASE/calls" | json "['id']")
curl -sf -F "file=@$AUDIO/call30.wav" "$BASE/calls/$CALL/recording" >/dev/null || fail "upload"
wait_ready "$CALL"
step "upload: call $CALL ready"

# A search by number, a download, a delete.
[ "$(curl -sf "$BASE/calls?phone=%2B15550104242" | json "['items'][0]['id']")" = "$CALL" ] || fail "search"
step "search: found by phone"
curl -sf "$BASE/calls/$CALL/download" -o "$DATA/download.wav" || fail "download"
cmp -s "$DATA/download.wav" "$AUDIO/call30.wav" || fail "the download differs from the upload"
step "download: byte-identical"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/calls/$CALL")" = 204 ] || fail "delete"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/calls/$CALL")" = 404 ] || fail "deleted call still there"
step "delete: 204, then 404"

# Metrics.
METRICS=$(curl -sf "$BASE/metrics") || fail "metrics"
echo "$METRICS" | grep -q '^callstream_chunks_total 300$' || fail "chunks_total: $(echo "$METRICS" | grep chunks_total)"
echo "$METRICS" | grep -q '^callstream_workers{state="up"} 2' || fail "workers up"
echo "$METRICS" | grep -q '^callstream_recordings{status="ready"} 1' || fail "recordings ready"
echo "$METRICS" | grep -q '^callstream_http_request_duration_seconds_count{route="/calls/{id}",method="DELETE",status="204"} 1$' || fail "http metric"
step "metrics: chunks, workers, recordings, HTTP requests"

# SIGTERM: drain, stop, exit 0.
kill -TERM $PID
STATUS=0
wait $PID || STATUS=$?
[ "$STATUS" = 0 ] || fail "exit status $STATUS after SIGTERM"
grep -q "workers stopped" "$LOG" || fail "no clean stop in the log"
step "SIGTERM: clean exit"
echo "smoke: OK"
