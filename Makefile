# CallStream: `make run` starts the server, `make test` runs the tests.
SWIFT ?= swift
PYTHON ?= python3
# System packages the build and tests need (installed with apt when run as root).
APT_PACKAGES ?= pkg-config libsqlite3-dev libmpg123-dev libopus-dev libmp3lame-dev zlib1g-dev curl openssl libpocketsphinx-dev pocketsphinx-en-us

.PHONY: setup run build release test lint smoke contract proto fuzz test-sanitize bench bench-pipeline bench-upload bench-sessions bench-asr bench-ingest format clean

setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		else echo "please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; fi; \
	fi
	@$(PYTHON) -c "import websockets" 2>/dev/null || $(PYTHON) -m pip install -q websockets
	@# PyPI tools (schemathesis, PyYAML) in the project's own virtual environment.
	@[ -x .venv/bin/python ] || $(PYTHON) -m venv .venv
	@.venv/bin/pip install -q -r scripts/requirements.txt
	@# The Moonshine engine: the moonshine-cpp wheel's onnxruntime and model, linked as .venv/moonshine.
	@ln -sfn "$$(.venv/bin/python -c 'import os, moonshine_cpp; print(os.path.dirname(moonshine_cpp.__file__))')" .venv/moonshine

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# `make run ARGS="--engine hybrid --workers 2"` passes flags through.
run: release
	.build/release/stream-server $(ARGS)

test: setup lint
	scripts/check-proto.sh
	$(SWIFT) test
	scripts/contract-test.sh
	scripts/smoke.sh --debug
	scripts/autobahn-test.sh
	scripts/fuzz.sh 20

# Regenerates Sources/CallStreamGRPC/Generated from proto/ (builds the generator plugins: ~10 min).
proto:
	scripts/generate-proto.sh

# libFuzzer targets, each for SECONDS seconds (in .build-fuzz; see scripts/fuzz.sh).
SECONDS ?= 60
fuzz: setup
	scripts/fuzz.sh $(SECONDS)

# The test suite under ThreadSanitizer, then AddressSanitizer (each its own build).
test-sanitize: setup
	scripts/test-sanitize.sh

smoke: release
	scripts/smoke.sh

contract: build
	scripts/contract-test.sh

bench: setup
	scripts/bench-stream.sh

bench-pipeline: setup
	scripts/bench-pipeline.sh

bench-upload: setup
	scripts/bench-upload.sh

bench-sessions: setup
	scripts/bench-sessions.sh

bench-asr: setup
	scripts/bench-asr.sh

bench-ingest: setup
	scripts/bench-ingest.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Fuzz Package.swift

# The checked-in .swift-format configuration; any finding fails.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Fuzz Package.swift

clean:
	rm -rf .build
