#!/usr/bin/env bash
# Fault injection (scripts/chaos.py): kill -9 workers under load, kill -9 the server mid-upload
# and mid-session, a full disk. Needs root (it mounts a tmpfs). Builds release unless --debug.
#   scripts/chaos.sh [--debug] [--seconds 60] [--clients 150] [--sessions 50] [--kill-every 3]
set -euo pipefail
cd "$(dirname "$0")/.."
configuration=release
if [ "${1:-}" = "--debug" ]; then configuration=debug; shift; fi
swift build -c "$configuration" --product stream-server >/dev/null
swift build -c "$configuration" --product audio-worker >/dev/null
swift build -c "$configuration" --product load-client >/dev/null
exec python3 scripts/chaos.py --bin ".build/$configuration" "$@"
