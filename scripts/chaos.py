#!/usr/bin/env python3
"""Fault injection against a real stream-server (scripts/chaos.sh builds and calls this).

1. workers: under a live load (plain streams and started sessions, via load-client) and a
   stream of uploads, kill -9 a random worker every few seconds; load-client must report
   no lost, duplicated or reordered result.
2. server: kill -9 the server mid-upload and mid-session, restart it on the same data dir;
   every upload that got 202 ends ready or failed with its sha256 intact, no other upload left
   a row or a file, no orphan files, PRAGMA integrity_check is ok, cut sessions are finished.
3. disk: a full data dir (a tmpfs): uploads get 507 and leave nothing, sessions are told and
   keep what was written, and the server recovers once space returns.

Prints one table: faults injected, chunks acked, results lost, recordings checked, integrity.
"""
import argparse, hashlib, json, os, random, re, signal, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDIO = os.path.join(ROOT, "..", "shared", "audio")


class Server:
    def __init__(self, bin_dir, data_dir, extra=()):
        self.bin_dir, self.data_dir, self.extra = bin_dir, data_dir, list(extra)
        self.proc, self.port = None, None

    def start(self):
        path = os.path.join(self.data_dir, "server.log")
        skip = os.path.getsize(path) if os.path.exists(path) else 0
        log = open(path, "a")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin_dir, "stream-server"), "--port", "0", "--data-dir", self.data_dir] + self.extra,
            stdout=log, stderr=log)
        for _ in range(500):
            text = open(path).read()[skip:]
            found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", text)
            if found:
                self.port = int(found[-1])
                break
            time.sleep(0.02)
        for _ in range(500):
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("server not ready")

    def workers(self):
        pids = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                pids += [int(p) for p in open(f"/proc/{self.proc.pid}/task/{task}/children").read().split()]
            except OSError:
                pass
        return pids

    def kill9(self):
        workers = self.workers()
        self.proc.kill()
        self.proc.wait()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get(self, path):
        return self.request("GET", path)

    def create_call(self):
        body = json.dumps({"caller": "+15550100", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"}).encode()
        status, answer = self.request("POST", "/calls", body, {"Content-Type": "application/json"})
        return json.loads(answer)["id"] if status == 201 else None

    def upload(self, call, content, name="a.wav"):
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", f"/calls/{call}/recording", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def load_client(bin_dir, port, *args):
    return subprocess.Popen([os.path.join(bin_dir, "load-client"), "--url", f"ws://127.0.0.1:{port}/api/audio/ws", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(proc):
    out, err = proc.communicate()
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"load-client failed: {out}\n{err}")


def wait_settled(server, calls, timeout=120):
    deadline, states = time.time() + timeout, {}
    for call in calls:
        while True:
            status, body = server.get(f"/calls/{call}")
            states[call] = json.loads(body) if status == 200 else None
            if not states[call] or states[call]["status"] not in ("processing", "created") or time.time() > deadline:
                break
            time.sleep(0.1)
    return states


def check_store(data_dir):
    """Integrity, orphans: every file under recordings/ belongs to a row, tmp/ is empty."""
    db = sqlite3.connect(os.path.join(data_dir, "callstream.sqlite"))
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    stored = {row[0] for row in db.execute("SELECT stored_path FROM recordings")}
    db.close()
    files = {f"recordings/{name}" for name in os.listdir(os.path.join(data_dir, "recordings"))}
    orphans = sorted(files - stored)
    partial = os.listdir(os.path.join(data_dir, "tmp"))
    return integrity, orphans, partial


def uploads_loop(server, content, stop, accepted, refused):
    while not stop.is_set():
        try:
            call = server.create_call()
        except OSError:  # the server is gone (phase 2)
            continue
        if call is None:
            continue
        try:
            status, body = server.upload(call, content)
        except OSError:
            refused.append(call)
            continue
        (accepted if status == 202 else refused).append(call if status != 202 else (call, json.loads(body)))


def phase_workers(bin_dir, args, rows):
    data = tempfile.mkdtemp(prefix="callstream-chaos-")
    server = Server(bin_dir, data, ["--workers", "2"]).start()
    wav = os.path.join(AUDIO, "call30_8k.wav")
    plain = load_client(bin_dir, server.port, "--clients", str(args.clients), "--messages", str(args.seconds * 20), "--rate-ms", "50",
                        "--timeout-s", "60")
    sessions = load_client(bin_dir, server.port, "--clients", str(args.sessions), "--wav", wav, "--codec", "mulaw", "--chunk-ms", "100",
                           "--stop", "--timeout-s", "60")
    stop, accepted, refused = threading.Event(), [], []
    uploader = threading.Thread(target=uploads_loop, args=(server, open(wav, "rb").read(), stop, accepted, refused))
    uploader.start()
    kills, started = 0, time.time()
    while time.time() - started < args.seconds:
        time.sleep(args.kill_every)
        workers = server.workers()
        if workers:
            os.kill(random.choice(workers), signal.SIGKILL)
            kills += 1
    stop.set()
    uploader.join()
    results = [report(plain), report(sessions)]
    lost = sum(r["missing_acks"] + r["missing_transcripts"] for r in results)
    bad = sum(r["duplicates"] + r["out_of_order"] + r["connections_failed"] for r in results)
    states = wait_settled(server, [call for call, _ in accepted] + results[1]["call_ids"])
    settled = sum(1 for s in states.values() if s and s["status"] in ("ready", "failed"))
    server.stop()
    integrity, orphans, partial = check_store(data)
    ok = lost == 0 and bad == 0 and settled == len(states) and integrity == "ok" and not orphans and not partial
    rows.append(("kill -9 workers", kills, sum(r["acks"] for r in results), lost, f"{settled}/{len(states)}", integrity, ok,
                 f"dup/reorder/failed {bad}, server errors {sum(r['server_errors'] for r in results)}"))


def phase_server(bin_dir, args, rows):
    data = tempfile.mkdtemp(prefix="callstream-chaos-")
    server = Server(bin_dir, data, ["--workers", "2", "--resume-window", "0"]).start()
    wav = os.path.join(AUDIO, "call30_8k.wav")
    content = open(wav, "rb").read()
    sha = hashlib.sha256(content).hexdigest()
    sessions = load_client(bin_dir, server.port, "--clients", str(args.sessions), "--wav", wav, "--codec", "pcm_s16le", "--chunk-ms", "100",
                           "--timeout-s", "5")
    stop, accepted, refused = threading.Event(), [], []
    uploaders = [threading.Thread(target=uploads_loop, args=(server, content, stop, accepted, refused)) for _ in range(3)]
    for thread in uploaders:
        thread.start()
    time.sleep(args.seconds / 4)
    server.kill9()
    stop.set()
    for thread in uploaders:
        thread.join()
    cut = sessions.communicate()[0]
    session_calls = json.loads(cut.strip().splitlines()[-1])["call_ids"] if cut.strip() else []
    server = Server(bin_dir, data, ["--workers", "2"]).start()
    states = wait_settled(server, [call for call, _ in accepted] + session_calls)
    problems = []
    for call, answer in accepted:
        state = states.get(call)
        if not state or state["status"] not in ("ready", "failed") or state["recording"]["sha256"] != sha:
            problems.append(f"upload {call}: {state and state['status']}")
    # An upload whose answer the client never saw (the server died) may have been committed
    # just before: then it must be whole (its sha256), never partial.
    committed = 0
    for call in refused:
        status, body = server.get(f"/calls/{call}")
        recording = json.loads(body).get("recording") if status == 200 else None
        if recording is not None:
            committed += 1
            if recording["sha256"] != sha:
                problems.append(f"an upload without 202 left a partial recording on {call}")
    for call in session_calls:
        state = states.get(call)
        if not state or state["status"] not in ("ready", "failed"):
            problems.append(f"session {call}: {state and state['status']}")
    server.stop()
    integrity, orphans, partial = check_store(data)
    ok = not problems and integrity == "ok" and not orphans and not partial
    notes = problems[:3] + ([f"orphans {orphans[:3]}"] if orphans else []) + ([f"partial {partial[:3]}"] if partial else [])
    notes.append(f"{len(refused)} uploads cut, {committed} of them committed whole before the kill")
    rows.append(("kill -9 server", 1, "-", len(problems), f"{len(accepted)} uploads + {len(session_calls)} sessions", integrity, ok, "; ".join(notes)))


def phase_disk(bin_dir, args, rows):
    data = tempfile.mkdtemp(prefix="callstream-chaos-full-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", data]).returncode != 0:
        rows.append(("disk full", 0, "-", "-", "-", "-", False, "cannot mount a tmpfs (needs root)"))
        return
    try:
        server = Server(bin_dir, data, ["--workers", "2"]).start()
        wav = os.path.join(AUDIO, "call30_8k.wav")
        content = open(wav, "rb").read()
        sessions = load_client(bin_dir, server.port, "--clients", "20", "--wav", wav, "--codec", "pcm_s16le", "--chunk-ms", "100",
                               "--stop", "--timeout-s", "60")
        calls = [server.create_call() for _ in range(10)]
        time.sleep(2)
        with open(os.path.join(data, "filler"), "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * (1 << 20))
                    filler.flush()
            except OSError:
                pass
        codes = [server.upload(call, content)[0] for call in calls[:5]]
        partial = os.listdir(os.path.join(data, "tmp"))
        time.sleep(3)
        os.remove(os.path.join(data, "filler"))
        result = report(sessions)
        if os.environ.get("CHAOS_VERBOSE"):
            print(json.dumps(result), file=sys.stderr)
        after = [server.upload(call, content)[0] for call in calls[5:]]
        states = wait_settled(server, result["call_ids"] + [c for c, code in zip(calls[5:], after) if code == 202])
        settled = sum(1 for s in states.values() if s and s["status"] == "ready")
        server.stop()
        integrity, orphans, _ = check_store(data)
        # Chunks sent after the server stopped a session are refused, not acked: lost means an
        # acked chunk without its transcript or an error naming it.
        lost = result["acks"] - result["transcripts"] - result["answered_by_error"]
        ok = all(code == 507 for code in codes) and not partial and all(code == 202 for code in after) and settled == len(states) \
            and lost == 0 and integrity == "ok" and not orphans
        rows.append(("disk full", 1, result["acks"], lost, f"{settled}/{len(states)}", integrity, ok,
                     f"uploads while full {codes}, after {after}, session errors {result['server_errors']}"))
    finally:
        subprocess.run(["umount", data])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--kill-every", type=float, default=3)
    parser.add_argument("--clients", type=int, default=150)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--phases", default="workers,server,disk")
    args = parser.parse_args()
    rows = []
    phases = {"workers": phase_workers, "server": phase_server, "disk": phase_disk}
    for phase in (phases[name] for name in args.phases.split(",")):
        try:
            phase(args.bin, args, rows)
        except Exception as error:  # a phase that cannot run is a failed row, not a crash
            rows.append((phase.__name__, "-", "-", "-", "-", "-", False, str(error)[:200]))
    print(f"{'fault':<16} {'injected':>8} {'acked':>8} {'lost':>5} {'recordings checked':>28} {'integrity':>9}  result")
    for fault, injected, acked, lost, checked, integrity, ok, note in rows:
        print(f"{fault:<16} {injected!s:>8} {acked!s:>8} {lost!s:>5} {checked!s:>28} {integrity!s:>9}  {'ok' if ok else 'FAILED'}  {note}")
    sys.exit(0 if all(row[6] for row in rows) else 1)


if __name__ == "__main__":
    main()
