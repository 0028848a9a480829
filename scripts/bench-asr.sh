#!/usr/bin/env bash
# The real engines' accuracy, cost and capacity, release build: see scripts/bench_asr.py.
#   make bench-asr        (ENGINES="moonshine hybrid pocketsphinx", PARTS="accuracy rtf memory capacity")
# Takes about half an hour on two cores; figures go into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# The scoring tools go into the project's virtual environment (made by `make setup`).
.venv/bin/pip install -q jiwer==4.0.0 whisper-normalizer==0.1.12
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }
swift build -c release --product stream-server >&2
swift build -c release --product audio-worker >&2
swift build -c release --product load-client >&2
mkdir -p bench-results
[ -n "${KEEP:-}" ] || : > bench-results/asr.jsonl
.venv/bin/python scripts/bench_asr.py
