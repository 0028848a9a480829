#!/usr/bin/env bash
# Call search at scale: fills a data dir with N calls (default 1,000,000) straight into the
# server's schema (the server creates it; the rows go in with Python's sqlite3, so the FTS
# triggers run as for API inserts), starts the release server on it, and times each kind of
# `GET /calls` query (median of REPS requests, over HTTP, including JSON encoding).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-1000000}
REPS=${REPS:-20}
DATA=$ROOT/bench-results/search-data
swift build -c release --product stream-server >&2
swift build -c release --product audio-worker >&2
SERVER=$ROOT/.build/release/stream-server
PORT=${PORT:-8087}

if [ ! -f "$DATA/.filled-$N" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  "$SERVER" --port "$PORT" --data-dir "$DATA" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 100); do curl -sf "localhost:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  kill -INT $pid; wait $pid || true
  python3 - "$DATA/callstream.sqlite" "$N" <<'PY'
import random, sqlite3, sys, time, uuid
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
# Named columns: the server's own (calls.ref, external_id) get their defaults and triggers.
INSERT = "INSERT INTO calls (id, caller, receiver, started_at, status, private, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)"
rng = random.Random(7)
start = 1_700_000_000_000  # ms, late 2023
t = time.time()
rows = []
for i in range(n):
    caller = "+1" + "".join(rng.choice("0123456789") for _ in range(10))
    receiver = "+44" + "".join(rng.choice("0123456789") for _ in range(10))
    started = start + rng.randrange(3 * 365 * 86_400_000)
    status = rng.choice(["created", "processing", "ready", "ready", "ready", "failed"])
    rows.append((str(uuid.UUID(int=rng.getrandbits(128))), caller, receiver, started, status, 0, started, started))
    if len(rows) == 50_000:
        db.executemany(INSERT, rows); rows = []
if rows:
    db.executemany(INSERT, rows)
db.execute(INSERT, ("00000000-0000-0000-0000-000000000001", "+15550102030", "+442071234567", 1750000000000, "ready", 0, 1750000000000, 1750000000000))
db.commit()
db.execute("ANALYZE")
db.commit()
print(f"inserted {n + 1} calls in {time.time() - t:.1f} s", file=sys.stderr)
PY
  touch "$DATA/.filled-$N"
fi

"$SERVER" --port "$PORT" --data-dir "$DATA" >/dev/null 2>&1 & pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "localhost:$PORT/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$PORT" "$REPS" "$N" <<'PY'
import json, statistics, sys, time, urllib.request
port, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
queries = [
    ("newest 50", ""),
    ("phone (exact)", "phone=%2B15550102030"),
    ("query, 7 digits (trigram index)", "query=5550102"),
    ("query, 3 digits", "query=555"),
    ("query, 2 digits (scan)", "query=55"),
    ("date range, 1 day", "from=2025-06-15T00:00:00Z&to=2025-06-16T00:00:00Z"),
    ("status + date range, 1 month", "status=failed&from=2025-06-01T00:00:00Z&to=2025-07-01T00:00:00Z"),
    ("deep page (offset 100,000)", "offset=100000&limit=50"),
]
print(f"{n + 1:,} calls; median of {reps} requests each")
print(f"{'query':<34}{'median ms':>10}{'p90 ms':>9}{'total':>10}")
for label, q in queries:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        body = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/calls?{q}"))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"{label:<34}{statistics.median(times):>10.2f}{times[int(len(times) * 0.9) - 1]:>9.2f}{body['total']:>10,}")
PY
