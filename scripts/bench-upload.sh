#!/usr/bin/env bash
# Upload benchmark: one hour of 16 kHz mono WAV (115 MB) posted as multipart/form-data with
# curl to a release stream-server, REPS times: seconds and MB/s for the upload (202 received:
# streamed to disk, hashed, fsync'd, checked, renamed, row written), then seconds until the
# call is `ready` (the worker's analysis). BIN_DIR=dir measures other binaries (e.g. an
# older build) with the same script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench-results/upload
REPS=${REPS:-3}
AUDIO=${AUDIO:-$ROOT/../shared/audio}
mkdir -p "$OUT"
command -v curl >/dev/null || { [ "$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >&2; }

if [ -z "${BIN_DIR:-}" ]; then
  swift build -c release --product stream-server >&2
  swift build -c release --product audio-worker >&2
  BIN_DIR=$ROOT/.build/release
fi

python3 - "$AUDIO/call30.wav" "$OUT/hour.wav" <<'PY'
import os, sys, wave
src, out = sys.argv[1], sys.argv[2]
if not os.path.exists(out):
    with wave.open(src) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    with wave.open(out, "wb") as o:
        o.setparams(params)
        for _ in range(120):
            o.writeframes(frames)
PY

python3 - "$BIN_DIR" "$OUT" "$REPS" <<'PY'
import json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request
bin_dir, out, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
path = f"{out}/hour.wav"
size = os.path.getsize(path)
data = tempfile.mkdtemp(prefix="callstream-upload-bench-")
log = open(f"{data}/server.log", "w")
server = subprocess.Popen([f"{bin_dir}/stream-server", "--port", "0", "--data-dir", data], stdout=log, stderr=log)
try:
    port = None
    for _ in range(500):
        match = re.search(r"listening on 127.0.0.1:(\d+)", open(f"{data}/server.log").read())
        if match:
            port = int(match.group(1))
            break
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    def call():
        body = json.dumps({"caller": "+15550001", "receiver": "+15550002", "started_at": "2026-11-23T10:00:00Z"}).encode()
        request = urllib.request.Request(f"{base}/calls", data=body, headers={"Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(request))["id"]
    print(f"{'run':<6}{'MB':>8}{'upload s':>10}{'MB/s':>8}{'to ready s':>12}")
    for rep in range(1, reps + 1):
        id = call()
        started = time.perf_counter()
        result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-F", f"file=@{path};filename=hour.wav",
                                 f"{base}/calls/{id}/recording"], capture_output=True, text=True)
        uploaded = time.perf_counter() - started
        assert result.stdout == "202", result.stdout
        while json.load(urllib.request.urlopen(f"{base}/calls/{id}"))["status"] == "processing":
            time.sleep(0.01)
        ready = time.perf_counter() - started
        print(f"{rep:<6}{size / 1e6:>8.1f}{uploaded:>10.3f}{size / 1e6 / uploaded:>8.1f}{ready:>12.3f}")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(data, ignore_errors=True)
PY
