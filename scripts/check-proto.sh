#!/usr/bin/env bash
# The committed gRPC code was generated from the committed proto: its hash, recorded by
# `make proto` beside the generated files, still matches.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! sha256sum --quiet -c Sources/CallStreamGRPC/Generated/proto.sha256; then
    echo "proto/ changed since the gRPC code was generated: run make proto and commit the result" >&2
    exit 1
fi
echo "proto: generated code matches proto/"
