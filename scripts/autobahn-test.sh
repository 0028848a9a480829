#!/usr/bin/env bash
# RFC 6455 and RFC 7692 conformance with Autobahn|Testsuite (../shared/autobahn):
#   - the protocol cases that need no echo, against /api/audio/ws;
#   - permessage-deflate cases (12.*, 13.*) against the test-only echo endpoint, with
#     --ws-compression. CI runs a short selection; CASES='12.*,13.*' runs all 216 (~20 min).
#   scripts/autobahn-test.sh [server binary]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/scripts/lib/server-port.sh"
SERVER=${1:-$ROOT/.build/debug/stream-server}
CASES=${CASES:-12.1.1,12.1.3,12.2.1,12.3.2,12.4.5,12.5.1,13.1.1,13.2.3,13.3.1,13.4.2,13.5.1,13.6.3,13.7.1}
AUTOBAHN=$ROOT/../shared/autobahn

DATA=$(mktemp -d /tmp/callstream-autobahn-XXXXXX)
LOG=$DATA/server.log
"$SERVER" --port 0 --data-dir "$DATA" --ws-compression --test-echo-endpoint >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
PORT=$(server_port "$LOG")
[ -n "$PORT" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }

"$AUTOBAHN/run.sh" --non-echo "ws://127.0.0.1:$PORT/api/audio/ws" | tail -1
"$AUTOBAHN/run.sh" --cases "$CASES" --exclude '' "ws://127.0.0.1:$PORT/api/test/echo" | tail -1
echo "autobahn: OK"
