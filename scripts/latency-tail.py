#!/usr/bin/env python3
"""Where in a run the slow replies came: reads a `load-client --latency-log` file and prints
the transcripts' p99, how many took longer than a threshold in the first and last seconds of
the run and in between, and the worst seconds.

    scripts/latency-tail.py LOG [--threshold-ms 10] [--edge-s 2] [--worst 8]
"""
import argparse


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--threshold-ms", type=float, default=10)
    parser.add_argument("--edge-s", type=float, default=2, help="seconds counted as the run's start and end")
    parser.add_argument("--worst", type=int, default=8, help="worst seconds to list")
    args = parser.parse_args()

    sent, micros = [], []
    for line in open(args.log):
        if line.startswith("#"):
            continue
        s, kind, us = line.split()
        if kind == "1":
            sent.append(int(s))
            micros.append(int(us))
    if not micros:
        raise SystemExit("no transcripts in the log")
    start, end = min(sent), max(sent)
    length = (end - start) / 1e9
    limit = args.threshold_ms * 1000
    ordered = sorted(micros)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    slow = [((s - start) / 1e9, us) for s, us in zip(sent, micros) if us > limit]
    first = sum(1 for t, _ in slow if t < args.edge_s)
    last = sum(1 for t, _ in slow if t > length - args.edge_s)
    print(f"transcripts {len(micros)}  p99 {p99:.1f} ms  over {args.threshold_ms:g} ms: {len(slow)}"
          f" (first {args.edge_s:g} s {first}, last {args.edge_s:g} s {last}, between {len(slow) - first - last});"
          f" p99 allows {len(micros) // 100}")
    per_second = {}
    for t, us in slow:
        count, worst = per_second.get(int(t), (0, 0))
        per_second[int(t)] = (count + 1, max(worst, us))
    for second, (count, worst) in sorted(per_second.items(), key=lambda item: -item[1][0])[: args.worst]:
        print(f"  second {second:3d}: {count:5d} over, worst {worst / 1000:6.1f} ms")


if __name__ == "__main__":
    main()
