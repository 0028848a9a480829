#!/usr/bin/env bash
# Soak: 10,000 WebSocket streams at a low rate for 10 minutes (release build), RSS growth and
# p99 per 30 s window, then clean 503s past --max-connections (scripts/soak.py).
#   scripts/soak.sh [--connections 10000] [--minutes 10] [--rate-ms 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
swift build -c release --product stream-server >/dev/null
swift build -c release --product audio-worker >/dev/null
swift build -c release --product load-client >/dev/null
exec python3 scripts/soak.py --bin .build/release "$@"
