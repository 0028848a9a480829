#!/usr/bin/env python3
"""One benchmark measurement: start a server, drive it with load-client, measure the server.

Prints one JSON line: the load-client report plus the server process tree's CPU seconds
during the load, CPU per transcript, and RSS (before connections, and the peak while the
connections are open). CPU and RSS come from /proc for the server and all its children.
"""
import argparse, json, os, shlex, signal, socket, subprocess, sys, threading, time, urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(root):
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    s = f.read()
                kids.setdefault(int(s[s.rfind(")") + 2:].split()[1]), []).append(int(name))
            except OSError:
                pass
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def cpu_seconds(pids):
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
            fields = s[s.rfind(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
        except OSError:
            pass
    return total


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


def size_or_zero(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def machine_ticks():
    """(steal, total) jiffies from /proc/stat: the hypervisor's steal is why p99 varies here."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server-cmd", required=True, help="command with {port}")
    ap.add_argument("--server-cwd", default=".")
    ap.add_argument("--load-client", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--data-dir", default=None, help="report the bytes the server wrote under it")
    ap.add_argument("load_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.load_args[:1] == ["--"]:
        a.load_args = a.load_args[1:]

    # TLS (load-client --insecure): https for the health check, wss:// for the streams.
    tls = "--insecure" in a.load_args
    scheme = ("https", "wss") if tls else ("http", "ws")
    context = None
    if tls:
        import ssl
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    port = free_port()
    log = open(f"/tmp/bench-stream-{port}.log", "wb")
    # The server gets its own process group (to stop it and its workers together) but stays in
    # this session. A new session (setsid) is, with Linux autogroup on, a scheduling group of
    # its own: the kernel then splits the CPUs between the load generator's session and the
    # server's, and that split, not the server, made most of load (a)'s latency tail.
    # BENCH_SESSION=own measures that setting.
    own_session = os.environ.get("BENCH_SESSION") == "own"
    server = subprocess.Popen(shlex.split(a.server_cmd.format(port=port)), cwd=a.server_cwd, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=own_session, process_group=None if own_session else 0)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{scheme[0]}://127.0.0.1:{port}/api/audio/health", timeout=1, context=context) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not become healthy")
        time.sleep(1.0)  # let workers settle
        pids = tree(server.pid)
        rss0 = rss_bytes(pids)
        peak = [rss0]
        stop = threading.Event()
        # BENCH_LIVE_S: the first seconds of the run are live streaming (sessions end after
        # their audio): the peak over them is memory per live session, without the end's
        # finalisations and analyses. Also split into the server process alone.
        live_s = float(os.environ.get("BENCH_LIVE_S", "0"))
        interval = float(os.environ.get("BENCH_RSS_INTERVAL", "0.1"))
        live_peak = [rss0, rss_bytes([server.pid])]
        server_rss0 = live_peak[1]

        def sqlite_bytes():
            """The server's callstream_sqlite_memory_bytes (its page caches have a fixed cap)."""
            try:
                with urllib.request.urlopen(f"{scheme[0]}://127.0.0.1:{port}/metrics", timeout=5, context=context) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith("callstream_sqlite_memory_bytes "):
                            return float(line.split()[1])
            except Exception:
                pass
            return None

        # At the end of the live window: the server's RSS and SQLite's part of it, so memory
        # per session can be given without SQLite's (shared, capped) caches.
        sqlite0 = sqlite_bytes() if live_s else None
        at_live_end = {}

        def snapshot():
            at_live_end["server_rss"] = rss_bytes([server.pid])
            at_live_end["sqlite"] = sqlite_bytes()

        def sample():
            while not stop.wait(interval):
                total = rss_bytes(tree(server.pid))
                peak[0] = max(peak[0], total)
                if live_s and time.monotonic() - t0 <= live_s:
                    live_peak[0] = max(live_peak[0], total)
                    live_peak[1] = max(live_peak[1], rss_bytes([server.pid]))

        # RSS is only reported for idle connections (load c). Sampling it walks /proc every
        # 100 ms, a few ms of CPU in bursts that showed up in the latency tail of load (a).
        idle = ("--messages" in a.load_args and a.load_args[a.load_args.index("--messages") + 1] == "0") or os.environ.get("BENCH_RSS") == "1"
        sampler = threading.Thread(target=sample, daemon=True)
        cpu0 = cpu_seconds(tree(server.pid))
        steal0, total0 = machine_ticks()
        t0 = time.monotonic()
        if idle:
            sampler.start()
        timer = threading.Timer(live_s, snapshot) if idle and live_s else None
        if timer:
            timer.start()
        load = subprocess.run([a.load_client, "--url", f"{scheme[1]}://127.0.0.1:{port}/api/audio/ws", "--json"] + a.load_args,
                              capture_output=True, text=True)
        wall = time.monotonic() - t0
        cpu1 = cpu_seconds(tree(server.pid))
        steal1, total1 = machine_ticks()
        stop.set()
        if idle:
            sampler.join()
        if timer:
            timer.cancel()
        try:
            report = json.loads(load.stdout.strip().splitlines()[-1])
        except Exception:
            raise SystemExit(f"load-client failed: {load.stdout} {load.stderr}")
        cpu = cpu1 - cpu0
        n = report.get("transcripts", 0)
        opened = report.get("connections_opened", 0)
        out = {
            "label": a.label,
            "load": report,
            "server_cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "server_cores": round(cpu / wall, 3) if wall else None,
            "cpu_us_per_chunk": round(cpu / n * 1e6, 2) if n else None,
            "steal_pct": round(100 * (steal1 - steal0) / (total1 - total0), 1) if total1 > total0 else None,
            "rss_idle_mib": round(rss0 / 2**20, 1),
            "rss_peak_mib": round(peak[0] / 2**20, 1),
            "kib_per_connection": round((peak[0] - rss0) / 1024 / opened, 2) if opened and idle else None,
            "kib_per_live_session": round((live_peak[0] - rss0) / 1024 / opened, 2) if opened and idle and live_s else None,
            "kib_per_live_session_server": round((live_peak[1] - server_rss0) / 1024 / opened, 2) if opened and idle and live_s else None,
            "sqlite_mib_at_live_end": round(at_live_end["sqlite"] / 2**20, 1) if at_live_end.get("sqlite") is not None else None,
            "kib_per_live_session_server_besides_sqlite": round(
                (at_live_end["server_rss"] - server_rss0 - (at_live_end["sqlite"] - sqlite0)) / 1024 / opened, 2)
            if opened and at_live_end.get("sqlite") is not None and sqlite0 is not None else None,
        }
        if a.data_dir:
            # Files may vanish while we walk (a live call's spool is removed when it is finalised).
            written = sum(size_or_zero(os.path.join(d, f)) for d, _, fs in os.walk(a.data_dir) for f in fs)
            out["data_dir_bytes"] = written
            out["written_bytes_per_s"] = round(written / wall) if wall else None
        print(json.dumps(out))
    finally:
        try:
            os.killpg(server.pid, signal.SIGINT)
            server.wait(15)
        except Exception:
            os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
