#!/usr/bin/env bash
# Live-session benchmark (release build): started, recorded sessions from load-client --wav.
#   (a) 1,000 sessions, 16 kHz mono PCM, 100 ms chunks, real-time pace, 60 s (10,000 chunks/s)
#   (b) 200 sessions, 16 kHz Opus, 20 ms packets, real-time pace, 60 s (the same 10,000 messages/s)
#   (c) 200 sessions, 16 kHz PCM, 100 ms chunks, each dropped (no close frame) and resumed every 10 s
# Every session connects and starts first; then all stream together, each with a random phase
# within one chunk (as ../shared/bench's load does for plain streams).
# Per load: lost (must be 0), p99 send→transcript, p99 start→started (the setup), server CPU
# (server + workers) per session and in cores, RSS per session (while live, in all and the server alone, and the server's without
# SQLite's page caches, which have a fixed cap; and the peak including the end's finalisations),
# bytes written per second against audio bytes received per second.
# ONLY="a b c" picks loads; SECONDS_OF_AUDIO=n shortens the runs. For A/B runs: LOAD_CLIENT=path
# and STREAM_SERVER=path run other builds (the server's audio-worker must sit beside it),
# CLIENT_THREADS=n the load client's event loops (2); SERVER_PREFIX runs the server under a
# wrapper (e.g. "env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2").
# LATENCY_LOG=1 keeps every reply in bench-results/latency-<load>.txt and prints where in the
# run the slow ones came (scripts/latency-tail.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ONLY=${ONLY:-"a b c"}
LENGTH=${SECONDS_OF_AUDIO:-60}
# A_CLIENTS=500 runs load (a) at half size: the RSS difference to 1,000 is the memory a session adds.
A_CLIENTS=${A_CLIENTS:-1000}
OUT=$ROOT/bench-results/sessions.jsonl
mkdir -p "$ROOT/bench-results"
: > "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

swift build -c release --product stream-server >&2
swift build -c release --product audio-worker >&2
swift build -c release --product load-client >&2
LOAD=${LOAD_CLIENT:-$ROOT/.build/release/load-client}

# A $LENGTH-second 16 kHz mono file: call30.wav repeated.
WAV=$ROOT/bench-results/call-${LENGTH}s.wav
python3 - "$ROOT/../shared/audio/call30.wav" "$WAV" "$LENGTH" <<'PY'
import sys, wave
src, dst, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
with wave.open(src) as w:
    params, frames = w.getparams(), w.readframes(w.getnframes())
need = params.framerate * seconds * params.sampwidth * params.nchannels
data = (frames * (need // len(frames) + 1))[:need]
with wave.open(dst, "wb") as w:
    w.setparams(params)
    w.writeframes(data)
PY

for load in $ONLY; do
  case $load in
    a) args=(--clients "$A_CLIENTS" --codec pcm_s16le --chunk-ms 100 --stop); audio_rate=$((A_CLIENTS * 32000)) ;;
    b) args=(--clients 200 --codec opus --chunk-ms 20 --stop); audio_rate=$((200 * 32000)) ;;
    c) args=(--clients 200 --codec pcm_s16le --chunk-ms 100 --stop --drop-after-s 10); audio_rate=$((200 * 32000)) ;;
  esac
  log_args=()
  [ -n "${LATENCY_LOG:-}" ] && log_args=(--latency-log "$ROOT/bench-results/latency-$load.txt")
  DATA=$(mktemp -d /tmp/callstream-bench-XXXXXX)
  echo "=== load $load" >&2
  BENCH_RSS=1 BENCH_RSS_INTERVAL=0.5 BENCH_LIVE_S=$((LENGTH - 1)) python3 "$ROOT/scripts/bench_stream.py" --label "sessions/$load" --data-dir "$DATA" \
    --server-cmd "${SERVER_PREFIX:-} ${STREAM_SERVER:-$ROOT/.build/release/stream-server} --port {port} --workers 2 --data-dir $DATA" --server-cwd "$ROOT" \
    --load-client "$LOAD" -- --wav "$WAV" --threads "${CLIENT_THREADS:-2}" --connect-parallelism 100 --timeout-s 60 "${args[@]}" "${log_args[@]}" \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['decoded_audio_bytes_per_s']=$audio_rate; print(json.dumps(r))" >> "$OUT" \
    || echo "!!! load $load failed" >&2
  rm -rf "$DATA"
  [ -n "${LATENCY_LOG:-}" ] && python3 "$ROOT/scripts/latency-tail.py" "$ROOT/bench-results/latency-$load.txt" >&2
  sleep 2
done

python3 - "$OUT" "$LENGTH" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'load':<14}{'sessions':>9}{'lost':>6}{'p99 tr ms':>10}{'p99 start ms':>13}{'srv cores':>10}{'CPU ms/session-min':>19}{'KiB/live':>9}{'server':>7}{'w/o SQLite':>11}{'SQLite MiB':>11}{'KiB/peak':>9}{'written MB/s':>13}{'audio MB/s':>11}{'ok':>5}")
for r in rows:
    l = r["load"]
    lost = l["missing_transcripts"] + l["missing_acks"]
    sessions = l["connections_opened"]
    per_session = r["server_cpu_s"] * 1000 / sessions / (r["wall_s"] / 60) if sessions else 0
    print(f"{r['label']:<14}{sessions:>9}{lost:>6}{l['send_to_transcript']['p99_ms']:>10}{l.get('start_to_started', {}).get('p99_ms', '-'):>13}{r['server_cores']:>10}{per_session:>19.1f}"
          f"{str(r['kib_per_live_session']):>9}{str(r['kib_per_live_session_server']):>7}{str(r.get('kib_per_live_session_server_besides_sqlite')):>11}{str(r.get('sqlite_mib_at_live_end')):>11}{str(r['kib_per_connection']):>9}{r.get('written_bytes_per_s', 0) / 1e6:>13.2f}{r['decoded_audio_bytes_per_s'] / 1e6:>11.2f}{str(l['ok']):>5}")
PY
