#!/usr/bin/env bash
# Opus decoding cost: libopus alone (C) against the workers (200 started Opus sessions of
# call30.wav at 20 ms, as fast as the window allows, not recorded; worker CPU only, minus the
# same run as PCM, which the workers only check). Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
AUDIO=$ROOT/../shared/audio/call30.wav
mkdir -p bench-results
cc -O2 scripts/opus_decode_speed.c -lopus -o bench-results/opus_decode_speed
bench-results/opus_decode_speed "$AUDIO"
swift build -c release --product stream-server >&2
swift build -c release --product audio-worker >&2
swift build -c release --product load-client >&2
DATA=$(mktemp -d /tmp/callstream-opus-XXXXXX)
PORT=${PORT:-8127}
.build/release/stream-server --port "$PORT" --workers 2 --data-dir "$DATA" > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -sf "localhost:$PORT/readyz" >/dev/null && break; sleep 0.1; done
ticks() { local t=0; for p in $(pgrep -P "$SERVER" audio-worker); do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
declare -A used
for codec in opus pcm_s16le; do
  before=$(ticks)
  .build/release/load-client --url "ws://127.0.0.1:$PORT/api/audio/ws" --wav "$AUDIO" --codec "$codec" --chunk-ms 20 \
    --clients 200 --stop --rate-ms 0 --in-flight 16 --threads 2 --no-record > /dev/null
  used[$codec]=$(( $(ticks) - before ))
done
hz=$(getconf CLK_TCK)
python3 -c "
opus, pcm, hz = ${used[opus]}, ${used[pcm_s16le]}, $hz
hours = 200 * 30 / 3600
print(f'workers, Opus: {opus / hz / hours:.2f} s per hour of audio; PCM (checked only): {pcm / hz / hours:.2f}; Opus decoding: {(opus - pcm) / hz / hours:.2f} s per hour')
"
