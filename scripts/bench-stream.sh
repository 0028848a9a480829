#!/usr/bin/env bash
# Live-stream benchmark: CallStream and the original Python design (../shared/bench), same
# loads from the same load-client, interleaved in one run (the machine is noisy: compare
# ratios). Prints one table; raw JSON lines go to bench-results/stream.jsonl.
#   (a) 100 clients x 1 chunk / 10 ms x 4 KiB for 20 s
#   (b) saturation: 50 clients, rate 0, 64 chunks in flight, 2000 chunks each
#   (c) 10,000 idle connections held open (server RSS per connection)
# REPS=n repeats each pair; ONLY="a b c" picks loads; SKIP_BASELINE=1 measures ours only;
# BEFORE=dir adds the stream-server (and audio-worker) in dir, e.g. a build of an earlier
# commit, as "before"; COMPRESSION=1 adds ours with --ws-compression, driven with
# load-client --compression, as "deflate"; TLS=1 adds ours with --tls-cert/--tls-key (a
# self-signed certificate made here), driven over wss://, as "tls".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-1}
ONLY=${ONLY:-"a b c"}
SHARED=${SHARED:-$ROOT/../shared/bench}
OUT=$ROOT/bench-results/stream.jsonl
mkdir -p "$ROOT/bench-results"
: > "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

swift build -c release --product stream-server >&2
swift build -c release --product audio-worker >&2
swift build -c release --product load-client >&2
LOAD=$ROOT/.build/release/load-client

servers=("callstream|$ROOT/.build/release/stream-server --port {port} --workers 1 ${CALLSTREAM_BENCH_ARGS:-}|$ROOT|")
if [ -n "${BEFORE:-}" ]; then
  servers+=("before|$BEFORE/stream-server --port {port} --workers 1 ${CALLSTREAM_BENCH_ARGS:-}|$ROOT|")
fi
if [ -n "${COMPRESSION:-}" ]; then
  servers+=("deflate|$ROOT/.build/release/stream-server --port {port} --workers 1 --ws-compression ${CALLSTREAM_BENCH_ARGS:-}|$ROOT|--compression")
fi
if [ -n "${TLS:-}" ]; then
  tls_dir=$ROOT/bench-results/tls
  mkdir -p "$tls_dir"
  [ -f "$tls_dir/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" \
    -days 30 -subj /CN=localhost 2>/dev/null
  servers+=("tls|$ROOT/.build/release/stream-server --port {port} --workers 1 --tls-cert $tls_dir/cert.pem --tls-key $tls_dir/key.pem ${CALLSTREAM_BENCH_ARGS:-}|$ROOT|--insecure")
fi
if [ -z "${SKIP_BASELINE:-}" ]; then
  "$SHARED/setup.sh" >&2
  servers+=("baseline|$SHARED/.venv/bin/uvicorn server:app --port {port} --log-level warning|$SHARED|")
fi

for rep in $(seq 1 "$REPS"); do
  for load in $ONLY; do
    case $load in
      a) args=(--clients 100 --messages 2000 --rate-ms 10 --chunk-bytes 4096) ;;
      b) args=(--clients 50 --messages 2000 --rate-ms 0 --in-flight 64 --chunk-bytes 4096) ;;
      c) args=(--clients 10000 --messages 0 --hold-s 8 --connect-parallelism 200 --timeout-s 5) ;;
    esac
    for entry in "${servers[@]}"; do
      IFS='|' read -r name cmd cwd extra <<< "$entry"
      [ "$load" = c ] && [ -n "$extra" ] && continue
      echo "=== $name load $load (rep $rep)" >&2
      # shellcheck disable=SC2086
      python3 "$ROOT/scripts/bench_stream.py" --label "$name/$load" --server-cmd "$cmd" --server-cwd "$cwd" \
        --load-client "$LOAD" -- "${args[@]}" $extra >> "$OUT" || echo "!!! $name $load failed" >&2
      sleep 2
    done
  done
done

python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'run':<16}{'transcripts/s':>14}{'CPU us/chunk':>14}{'srv cores':>10}{'p50 tr ms':>10}{'p99 tr ms':>10}{'p99 ack ms':>11}{'KiB/conn':>10}{'lost':>6}{'ok':>5}{'steal%':>7}")
for r in rows:
    l = r["load"]
    lost = l["missing_transcripts"] + l["missing_acks"]
    print(f"{r['label']:<16}{l['chunks_per_second']:>14}{str(r['cpu_us_per_chunk']):>14}{str(r['server_cores']):>10}"
          f"{l['send_to_transcript']['p50_ms']:>10}{l['send_to_transcript']['p99_ms']:>10}{l['send_to_ack']['p99_ms']:>11}"
          f"{str(r['kib_per_connection']) if l['chunks_sent'] == 0 else '-':>10}{lost:>6}{str(l['ok']):>5}{str(r.get('steal_pct')):>7}")
PY
