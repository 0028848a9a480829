#!/usr/bin/env bash
# Telephony ingress benchmark (release build), figures for docs/benchmarks.md:
#   twilio: 500 concurrent Twilio Media Streams streams at real-time pace (both tracks: the
#           call inbound, silence outbound), $SECONDS_OF_AUDIO s each — server CPU per stream,
#           RSS per stream, every stream recorded (lost must be 0);
#   pbx:    pbx-ingest draining a folder of 1,000 recording pairs (5 s WAVs) over gRPC — calls/s.
# ONLY="twilio pbx" picks runs; STREAMS, PAIRS and SECONDS_OF_AUDIO scale them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ONLY=${ONLY:-"twilio pbx"}
LENGTH=${SECONDS_OF_AUDIO:-60}
mkdir -p bench-results
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for product in stream-server audio-worker load-client pbx-ingest; do swift build -c release --product $product >&2; done
BIN=$ROOT/.build/release

# 8 kHz mono files: call30_8k.wav repeated to $LENGTH s, and its first 5 s for the pairs.
python3 - "$ROOT/../shared/audio/call30_8k.wav" "$ROOT/bench-results" "$LENGTH" <<'PY'
import sys, wave
src, out, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
with wave.open(src) as w:
    params, frames = w.getparams(), w.readframes(w.getnframes())
for name, length in ((f"call-{seconds}s-8k.wav", seconds), ("call-5s-8k.wav", 5)):
    need = params.framerate * length * params.sampwidth
    with wave.open(f"{out}/{name}", "wb") as w:
        w.setparams(params)
        w.writeframes((frames * (need // len(frames) + 1))[:need])
PY

OUT=bench-results/ingest.jsonl
: > "$OUT"
for run in $ONLY; do
  case $run in
    twilio) python3 scripts/bench_ingest.py twilio --bin "$BIN" --wav "bench-results/call-${LENGTH}s-8k.wav" --streams "${STREAMS:-500}" >> "$OUT" ;;
    pbx) python3 scripts/bench_ingest.py pbx --bin "$BIN" --pair-wav bench-results/call-5s-8k.wav --pairs "${PAIRS:-1000}" >> "$OUT" ;;
  esac
done
cat "$OUT"
