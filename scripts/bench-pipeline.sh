#!/usr/bin/env bash
# Recording analysis benchmark: seconds of analysis per hour of 16 kHz mono audio, WAV and
# MP3, for CallStream's worker (`audio-worker --analyse`, release build) and for pydub (the
# original service's library: AudioSegment.from_file + detect_silence(500, -40, seek_step=1))
# on the same files. pydub is measured on a 5-minute excerpt and scaled to an hour (it is
# linear and an hour takes it minutes); ours on both, to show it scales.
# Needs ffmpeg (to encode the MP3, and pydub decodes MP3 with it): installed with apt as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench-results/pipeline
REPS=${REPS:-3}
AUDIO=${AUDIO:-$ROOT/../shared/audio}
mkdir -p "$OUT"

if ! command -v ffmpeg >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg >&2
  else echo "please install ffmpeg" >&2; exit 1; fi
fi
[ -x "$OUT/venv/bin/python" ] || python3 -m venv "$OUT/venv"
"$OUT/venv/bin/python" -c "import pydub" 2>/dev/null || "$OUT/venv/bin/pip" install -q pydub >&2
swift build -c release --product audio-worker >&2
WORKER=$ROOT/.build/release/audio-worker

# An hour and five minutes of call30.wav (16 kHz mono), and the same as 32 kbit/s MP3.
python3 - "$AUDIO/call30.wav" "$OUT" <<'PY'
import sys, wave
src, out = sys.argv[1], sys.argv[2]
with wave.open(src) as w:
    params, frames = w.getparams(), w.readframes(w.getnframes())
for name, copies in (("hour", 120), ("five", 10)):
    with wave.open(f"{out}/{name}.wav", "wb") as o:
        o.setparams(params)
        for _ in range(copies):
            o.writeframes(frames)
PY
for name in hour five; do
  [ -s "$OUT/$name.mp3" ] || ffmpeg -loglevel error -y -i "$OUT/$name.wav" -codec:a libmp3lame -b:a 32k "$OUT/$name.mp3"
done

python3 - "$WORKER" "$OUT" "$REPS" <<'PY'
import json, subprocess, sys, time
worker, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])

def ours(path):
    runs = [json.loads(subprocess.run([worker, "--analyse", path], check=True, capture_output=True, text=True).stdout)
            for _ in range(reps)]
    best = min(r["analysis_seconds"] for r in runs)
    return best, runs[0]["duration_sec"], len(runs[0]["silence_ms"])

def pydub(path):
    code = ("import sys, time\nfrom pydub import AudioSegment, silence\n"
            "t = time.perf_counter(); a = AudioSegment.from_file(sys.argv[1])\n"
            "marks = silence.detect_silence(a, min_silence_len=500, silence_thresh=-40, seek_step=1)\n"
            "print(time.perf_counter() - t, len(a) / 1000, len(marks))")
    runs = [subprocess.run([f"{out}/venv/bin/python", "-c", code, path], check=True, capture_output=True, text=True).stdout.split()
            for _ in range(reps)]
    best = min(float(r[0]) for r in runs)
    return best, float(runs[0][1]), int(runs[0][2])

rows = []
for fmt in ("wav", "mp3"):
    hour_s, hour_dur, hour_marks = ours(f"{out}/hour.{fmt}")
    five_s, five_dur, five_marks = ours(f"{out}/five.{fmt}")
    py_s, py_dur, py_marks = pydub(f"{out}/five.{fmt}")
    rows.append((fmt, hour_s * 3600 / hour_dur, five_s * 3600 / five_dur, py_s * 3600 / py_dur, five_marks, py_marks))
    print(json.dumps({"format": fmt, "ours_hour_s": hour_s, "hour_audio_s": hour_dur, "ours_5min_s": five_s,
                      "pydub_5min_s": py_s, "marks_ours": five_marks, "marks_pydub": py_marks}), file=sys.stderr)
print(f"{'format':<8}{'ours s/hour (1 h file)':>24}{'ours s/hour (5 min)':>22}{'pydub s/hour (5 min)':>23}{'speed-up':>10}{'marks ours/pydub':>18}")
for fmt, hour, five, py, mo, mp in rows:
    print(f"{fmt:<8}{hour:>24.3f}{five:>22.3f}{py:>23.1f}{py / five:>9.0f}x{f'{mo}/{mp}':>18}")
PY
