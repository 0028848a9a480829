#!/usr/bin/env python3
"""The real engines' accuracy, cost and capacity (release build; run by scripts/bench-asr.sh).

  accuracy   call30.wav and call30_8k.wav streamed as one live session at real-time pace:
             WER of the finals (jiwer, after Whisper's English normaliser with adjacent digit
             groups joined), end of speech → final p95, chunk → transcript (partial) p95/p99.
  rtf        `audio-worker --analyse call30.wav` pinned to one core: decode seconds / audio seconds.
  memory     a 10-minute call (call30 repeated) through `audio-worker --analyse`, the RSS of the
             worker and its Moonshine helper sampled: peak, and growth from the end of the first
             minute's audio to the end.
  capacity   N concurrent real-time live calls (60 s each), one worker per core: the most N whose
             finals (p95) come no more than 2 s later than one call's alone, with nothing lost,
             per core.
Prints a table and writes one JSON line per measurement to bench-results/asr.jsonl.
ENGINES="moonshine hybrid pocketsphinx" and PARTS="accuracy rtf memory capacity" pick.
"""
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request, wave

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(ROOT, "..", "shared", "audio")
RELEASE = os.path.join(ROOT, ".build", "release")
RESULTS = os.path.join(ROOT, "bench-results")
ENGINES = os.environ.get("ENGINES", "moonshine hybrid pocketsphinx").split()
PARTS = os.environ.get("PARTS", "accuracy rtf memory capacity").split()
CORES = os.cpu_count() or 1
MOONSHINE = os.path.join(ROOT, ".venv", "moonshine")
normaliser = EnglishTextNormalizer()


def normalise(text):
    # "555 867 5309" and "5558675309" are the same number.
    return re.sub(r"(?<=\d) (?=\d)", "", normaliser(text))


def wer(hypothesis, reference):
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def reference():
    with open(os.path.join(AUDIO, "call30.json")) as f:
        return " ".join(json.load(f)["sentences"])


def repeated(seconds, path):
    """call30.wav repeated to `seconds`."""
    with wave.open(os.path.join(AUDIO, "call30.wav")) as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    need = params.framerate * seconds * params.sampwidth * params.nchannels
    with wave.open(path, "wb") as w:
        w.setparams(params)
        w.writeframes((frames * (need // len(frames) + 1))[:need])
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, engine, workers):
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="callstream-asr-")
        self.log = open(os.path.join(self.data, "server.log"), "w")
        self.process = subprocess.Popen(
            [os.path.join(RELEASE, "stream-server"), "--port", str(self.port), "--data-dir", self.data, "--workers", str(workers),
             "--engine", engine, "--moonshine-dir", MOONSHINE, "--idle-timeout", "0"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.1)
        raise SystemExit(f"server with {engine} did not get ready; see {self.log.name}")

    def load(self, *args):
        out = subprocess.run(
            [os.path.join(RELEASE, "load-client"), "--url", f"ws://127.0.0.1:{self.port}/api/audio/ws", "--json", "--any-text",
             "--timeout-s", "120", *args], capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        subprocess.run(["rm", "-rf", self.data])


def emit(row):
    print(json.dumps(row), flush=True)
    with open(os.path.join(RESULTS, "asr.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def accuracy(engine):
    # A fresh server per file: the first session's recording is analysed after it stops, and
    # that analysis would share the model with the second session.
    for name in ("call30.wav", "call30_8k.wav"):
        server = Server(engine, workers=1)
        try:
            report = server.load("--clients", "1", "--wav", os.path.join(AUDIO, name), "--stop")
            text = (report.get("final_texts") or [""])[0]
            emit({"part": "accuracy", "engine": engine, "file": name, "wer": round(wer(text, reference()), 4),
                  "speech_end_to_final_p95_ms": report["speech_end_to_final"]["p95_ms"],
                  "speech_end_to_final_max_ms": report["speech_end_to_final"]["max_ms"],
                  "chunk_to_transcript_p95_ms": report["send_to_transcript"]["p95_ms"],
                  "chunk_to_transcript_p99_ms": report["send_to_transcript"]["p99_ms"],
                  "finals": report["finals"], "ok": report["ok"], "text": text})
        finally:
            server.stop()


def analyse(engine, path, sample=None):
    """Runs `audio-worker --analyse` on one core; with `sample`, RSS every 0.5 s."""
    command = ["taskset", "-c", "0", os.path.join(RELEASE, "audio-worker"), "--engine", engine, "--moonshine-dir", MOONSHINE, "--analyse", path]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    samples = []
    while process.poll() is None:
        if sample:
            # The worker and its Moonshine helper process.
            samples.append((time.monotonic(), tree_rss(process.pid)))
        time.sleep(0.5)
    return json.loads(process.stdout.read()), samples


def tree_rss(root):
    pids, total = [root], 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    text = f.read()
                if int(text[text.rfind(")") + 2:].split()[1]) == root:
                    pids.append(int(name))
            except OSError:
                pass
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def speech_seconds(result):
    return sum(s["end_ms"] - s["start_ms"] for s in result["segments"]) / 1000


def rtf(engine):
    # Decode time over the speech decoded (the segments), and over the whole recording.
    result, _ = analyse(engine, os.path.join(AUDIO, "call30.wav"))
    result8, _ = analyse(engine, os.path.join(AUDIO, "call30_8k.wav"))
    emit({"part": "rtf", "engine": engine,
          "rtf_speech_16k": round(result["analysis_seconds"] / speech_seconds(result), 3),
          "rtf_speech_8k": round(result8["analysis_seconds"] / speech_seconds(result8), 3),
          "rtf_recording_16k": round(result["analysis_seconds"] / result["duration_sec"], 3),
          "rtf_recording_8k": round(result8["analysis_seconds"] / result8["duration_sec"], 3),
          "wer_16k_whole_file": round(wer(" ".join(s["text"] for s in result["segments"]), reference()), 4)})


def memory(engine):
    path = repeated(600, os.path.join(RESULTS, "call-600s.wav"))
    started = time.monotonic()
    result, samples = analyse(engine, path, sample=True)
    seconds = time.monotonic() - started
    # The end of the first minute of audio, by the decoding pace (the analysis is steady).
    first_minute = started + seconds / 10
    early = max([rss for t, rss in samples if t <= first_minute] or [samples[0][1]])
    peak = max(rss for _, rss in samples)
    end = samples[-1][1]
    emit({"part": "memory", "engine": engine, "audio_seconds": result["duration_sec"], "wall_seconds": round(seconds, 1),
          "rss_after_first_minute_mb": round(early / 2**20), "rss_peak_mb": round(peak / 2**20), "rss_end_mb": round(end / 2**20),
          "growth_percent": round((end - early) / early * 100, 1), "segments": len(result["segments"])})


def capacity(engine):
    # "Falling behind": finals come more than 2 s later than they do for one call alone (the
    # engine's own latency, measured first), or a call loses anything.
    path = repeated(60, os.path.join(RESULTS, "call-60s.wav"))
    best, tried, alone = 0, {}, {}

    def probe(n):
        server = Server(engine, workers=CORES)
        try:
            report = server.load("--clients", str(n), "--wav", path, "--stop", "--threads", "1")
        finally:
            server.stop()
        lag = report["speech_end_to_final"]["p95_ms"]
        alone.setdefault("lag", lag)
        ok = report["ok"] and report["finals"] >= n * 10 and lag <= alone["lag"] + 2000
        emit({"part": "capacity", "engine": engine, "calls": n, "speech_end_to_final_p95_ms": lag,
              "chunk_to_transcript_p99_ms": report["send_to_transcript"]["p99_ms"], "finals": report["finals"], "ok": ok})
        tried[n] = ok
        return ok

    n = 1
    while probe(n):
        best = n
        n *= 2
    low, high = best, n
    while high - low > 1:
        middle = (low + high) // 2
        if probe(middle):
            low = middle
        else:
            high = middle
    emit({"part": "capacity_result", "engine": engine, "calls": low, "cores": CORES, "calls_per_core": round(low / CORES, 2),
          "one_call_p95_ms": alone.get("lag")})


def main():
    os.makedirs(RESULTS, exist_ok=True)
    for part in PARTS:
        for engine in ENGINES:
            print(f"=== {part} {engine}", file=sys.stderr, flush=True)
            {"accuracy": accuracy, "rtf": rtf, "memory": memory, "capacity": capacity}[part](engine)


if __name__ == "__main__":
    main()
