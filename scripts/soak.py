#!/usr/bin/env python3
"""Soak (scripts/soak.sh builds and calls this): hold CONNECTIONS WebSocket streams, each
sending a small chunk every RATE ms, for MINUTES; sample the server's RSS, CPU and
send->transcript p99 (from /metrics, per window) every 30 s; then push past --max-connections
and count the 503 server_full answers. Prints a table and one JSON line."""
import argparse, json, os, re, socket, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_stream import cpu_seconds, rss_bytes, tree  # noqa: E402


def histogram(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets = {}
    for le, value in re.findall(r'callstream_transcript_latency_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text):
        buckets[float("inf") if le == "+Inf" else float(le)] = float(value)
    return dict(sorted(buckets.items()))


def p99(before, after):
    delta = {le: after[le] - before.get(le, 0) for le in after}
    total = delta.get(float("inf"), 0)
    if total <= 0:
        return None, 0
    for le, count in delta.items():
        if count >= 0.99 * total:
            return le, int(total)
    return float("inf"), int(total)


def upgrade_status(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/audio/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        answer = b""
        while b"}}" not in answer:  # the head and the JSON body may come in separate reads
            more = s.recv(4096)
            if not more:
                break
            answer += more
        head = answer.decode(errors="replace")
    return int(head.split()[1]) if head.startswith("HTTP/1.1") else 0, "server_full" in head and "Retry-After" in head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate-ms", type=int, default=2000)
    ap.add_argument("--over", type=int, default=200, help="upgrades tried past --max-connections")
    a = ap.parse_args()

    data = subprocess.run(["mktemp", "-d"], capture_output=True, text=True).stdout.strip()
    port_log = os.path.join(data, "server.log")
    server = subprocess.Popen([os.path.join(a.bin, "stream-server"), "--port", "0", "--data-dir", data, "--workers", "1",
                               "--max-connections", str(a.connections)], stdout=open(port_log, "w"), stderr=subprocess.STDOUT,
                              process_group=0)
    port = None
    for _ in range(500):
        found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", open(port_log).read())
        if found:
            port = int(found[0])
            break
        time.sleep(0.02)
    time.sleep(1)
    messages = int(a.minutes * 60_000 / a.rate_ms)
    client = subprocess.Popen([os.path.join(a.bin, "load-client"), "--url", f"ws://127.0.0.1:{port}/api/audio/ws", "--json",
                               "--clients", str(a.connections), "--messages", str(messages), "--rate-ms", str(a.rate_ms),
                               "--chunk-bytes", "320", "--connect-parallelism", "200", "--timeout-s", "120"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    samples, refused, clean = [], 0, 0
    started = time.monotonic()
    last_hist = histogram(port)
    pushed = False
    while client.poll() is None:
        time.sleep(30)
        if client.poll() is not None:
            break
        pids = tree(server.pid)
        hist = histogram(port)
        window_p99, count = p99(last_hist, hist)
        last_hist = hist
        samples.append({"t_s": round(time.monotonic() - started), "rss_mib": round(rss_bytes(pids) / 2**20, 1),
                        "cpu_s": round(cpu_seconds(pids), 1), "p99_le_s": window_p99, "transcripts": count})
        print(f"t={samples[-1]['t_s']:>5}s rss={samples[-1]['rss_mib']:>8} MiB cpu={samples[-1]['cpu_s']:>8} s "
              f"p99<={window_p99} s over {count} transcripts", file=sys.stderr)
        if not pushed and samples[-1]["t_s"] >= 60:
            # Past --max-connections: every extra upgrade must get a clean 503 server_full.
            pushed = True
            for _ in range(a.over):
                status, ok = upgrade_status(port)
                refused += status == 503
                clean += ok
    out = client.communicate()[0]
    report = json.loads(out.strip().splitlines()[-1])
    server.terminate()
    server.wait(30)
    warm = next((s for s in samples if s["t_s"] >= 90), samples[0] if samples else None)
    final = samples[-1] if samples else None
    growth = round(100 * (final["rss_mib"] - warm["rss_mib"]) / warm["rss_mib"], 2) if warm and final else None
    result = {"connections": a.connections, "minutes": a.minutes, "rate_ms": a.rate_ms, "acks": report["acks"],
              "transcripts": report["transcripts"], "lost": report["missing_acks"] + report["missing_transcripts"],
              "errors": report["server_errors"], "failed": report["connections_failed"], "ok": report["ok"],
              "p99_ms": report["send_to_transcript"]["p99_ms"], "rss_warm_mib": warm and warm["rss_mib"],
              "rss_final_mib": final and final["rss_mib"], "rss_growth_pct": growth,
              "over_limit_tried": a.over if pushed else 0, "over_limit_503": refused, "over_limit_clean": clean, "samples": samples}
    print(f"connections {a.connections} for {a.minutes} min, {report['acks']} chunks acked, lost {result['lost']}, "
          f"errors {result['errors']}, RSS {result['rss_warm_mib']} -> {result['rss_final_mib']} MiB ({growth} %), "
          f"p99 {result['p99_ms']} ms; past the limit: {refused}/{result['over_limit_tried']} got 503 ({clean} with server_full + Retry-After)")
    print(json.dumps(result))
    ok = report["ok"] and result["lost"] == 0 and growth is not None and growth < 5 and refused == result["over_limit_tried"] > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
