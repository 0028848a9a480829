#!/usr/bin/env bash
# The API contract against the code: schemathesis generates requests from openapi.yaml and
# sends them to a live server. Fails on any 5xx and on any response that does not conform to
# the spec (status code, content type, headers, body schema), and checks that what DELETE
# removed stays gone and that methods a path lacks are refused.
#   scripts/contract-test.sh [server binary]   (default: the debug build)
#   EXAMPLES=n  examples per operation (CI: 30)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. "$ROOT/scripts/lib/server-port.sh"
SERVER=${1:-$ROOT/.build/debug/stream-server}
EXAMPLES=${EXAMPLES:-30}
VENV=$ROOT/.venv
# `make setup` makes the environment; this covers running the script on its own.
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r scripts/requirements.txt
fi

DATA=$(mktemp -d /tmp/callstream-contract-XXXXXX)
LOG=$DATA/server.log
"$SERVER" --port 0 --data-dir "$DATA" --max-upload-bytes 1048576 >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
PORT=$(server_port "$LOG")
[ -n "$PORT" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }
# The served contract is the checked-in file.
curl -sf "http://127.0.0.1:$PORT/openapi.yaml" | cmp - openapi.yaml

"$VENV/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$PORT" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,use_after_free,unsupported_method \
  --max-examples "$EXAMPLES" --seed 1 --no-color
grep -q "request failed" "$LOG" && { grep "request failed" "$LOG"; echo "the server logged unexpected errors" >&2; exit 1; }
echo "contract: OK"
