#!/usr/bin/env python3
"""Telephony ingress benchmark (scripts/bench-ingest.sh runs it on release builds).

twilio: N concurrent Twilio Media Streams streams (load-client --twilio: both tracks, 20 ms
  media events at real-time pace, then stop) — server CPU (server + workers) per stream,
  RSS per stream, and every stream recorded as a stereo call of the file's length (lost: 0).
pbx: pbx-ingest draining a folder of N recording pairs over gRPC — calls per second, and
  exactly N calls stored.
Prints one JSON line per run."""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.request, wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_stream import cpu_seconds, free_port, rss_bytes, tree  # noqa: E402


def start_server(binary_dir, data, extra):
    port = free_port()
    log = open(os.path.join(data, "server.log"), "wb")
    server = subprocess.Popen([os.path.join(binary_dir, "stream-server"), "--port", str(port), "--workers", "2", "--data-dir", data] + extra,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return server, port
        except Exception:
            time.sleep(0.1)
    raise SystemExit("server did not become ready")


def stop_server(server):
    try:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(30)
    except Exception:
        os.killpg(server.pid, signal.SIGKILL)


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def settled_call(port, external_id, deadline):
    while time.monotonic() < deadline:
        items = get(port, f"/calls?external_id={external_id}")["items"]
        if items and items[0]["status"] != "processing":
            return items[0]
        time.sleep(0.05)
    return None


def twilio(a):
    data = tempfile.mkdtemp(prefix="callstream-bench-ingest-")
    server, port = start_server(a.bin, data, [])
    try:
        time.sleep(1.0)
        pids = tree(server.pid)
        rss0, peak = rss_bytes(pids), [rss_bytes(pids)]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.5):
                peak[0] = max(peak[0], rss_bytes(tree(server.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu0, t0 = cpu_seconds(tree(server.pid)), time.monotonic()
        load = subprocess.run([os.path.join(a.bin, "load-client"), "--twilio", "--url", f"ws://127.0.0.1:{port}/api/twilio/ws", "--wav", a.wav,
                               "--clients", str(a.streams), "--threads", "1", "--connect-parallelism", "100", "--timeout-s", "60"],
                              capture_output=True, text=True)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(tree(server.pid)) - cpu0
        stop.set()
        sampler.join()
        report = json.loads(load.stdout.strip().splitlines()[-1])
        with wave.open(a.wav) as w:
            seconds = w.getnframes() / w.getframerate()
        deadline, recorded, lost = time.monotonic() + 120, 0, []
        for sid in report["call_sids"]:
            call = settled_call(port, sid, deadline)
            duration = (call or {}).get("recording", {}) or {}
            if call and call["status"] == "ready" and abs((duration.get("duration_sec") or 0) - seconds) < 0.05:
                recorded += 1
            else:
                lost.append(sid)
        return {
            "run": "twilio", "streams": a.streams, "audio_s": seconds, "closed_normally": report["closed_normally"],
            "media_sent": report["media_sent"], "recorded": recorded, "lost": a.streams - recorded,
            "server_cpu_s": round(cpu, 2), "wall_s": round(wall, 1), "server_cores": round(cpu / wall, 3),
            "cpu_ms_per_stream_minute": round(cpu * 1000 / a.streams / (seconds / 60), 1),
            "kib_per_stream": round((peak[0] - rss0) / 1024 / a.streams, 1), "ok": recorded == a.streams and report["ok"],
        }
    finally:
        stop_server(server)
        shutil.rmtree(data, ignore_errors=True)


def pbx(a):
    data = tempfile.mkdtemp(prefix="callstream-bench-pbx-")
    folders = tempfile.mkdtemp(prefix="callstream-bench-pbx-folders-")
    incoming, done = os.path.join(folders, "incoming"), os.path.join(folders, "done")
    os.makedirs(incoming)
    os.makedirs(done)
    with open(a.pair_wav, "rb") as f:
        audio = f.read()
    for i in range(a.pairs):
        with open(os.path.join(incoming, f"rec{i:05d}.wav"), "wb") as f:
            f.write(audio)
        with open(os.path.join(incoming, f"rec{i:05d}.json"), "w") as f:
            json.dump({"caller": f"+1555{i:07d}", "receiver": "+15550100000", "started_at": "2026-12-04T09:00:00Z", "external_id": f"rec{i:05d}"}, f)
    grpc_port = free_port()
    server, port = start_server(a.bin, data, ["--grpc-port", str(grpc_port)])
    ingest = None
    try:
        t0 = time.monotonic()
        ingest = subprocess.Popen([os.path.join(a.bin, "pbx-ingest"), "--watch", incoming, "--server", f"http://127.0.0.1:{grpc_port}",
                                   "--done-dir", done, "--settle-seconds", "0", "--concurrency", str(a.concurrency), "--log-level", "warning"],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "pbx-ingest.log"), "wb"))
        deadline = time.monotonic() + 600
        while len(os.listdir(done)) < 2 * a.pairs and time.monotonic() < deadline:
            time.sleep(0.1)
        wall = time.monotonic() - t0
        sent = len(os.listdir(done)) // 2
        total = get(port, "/calls?limit=1")["total"]
        return {"run": "pbx", "pairs": a.pairs, "concurrency": a.concurrency, "sent": sent, "calls_stored": total, "wall_s": round(wall, 2),
                "calls_per_s": round(sent / wall, 1), "ok": sent == a.pairs and total == a.pairs}
    finally:
        if ingest:
            ingest.terminate()
            ingest.wait(10)
        stop_server(server)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(folders, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", choices=["twilio", "pbx"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--wav", help="twilio: an 8 kHz mono WAV")
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--pair-wav", help="pbx: the audio of every pair")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args()
    print(json.dumps(twilio(a) if a.run == "twilio" else pbx(a)))


if __name__ == "__main__":
    main()
