#!/usr/bin/env bash
# Regenerates the gRPC code (Sources/CallStreamGRPC/Generated) from proto/callstream/v1/*.proto.
# Building the generator plugins takes about ten minutes, so this is `make proto`, not part of
# every build: the generated code is committed, with the proto's hash beside it, and CI checks
# that the hash still matches (scripts/check-proto.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=Sources/CallStreamGRPC/Generated
work=.build-proto
command -v protoc >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler; }
mkdir -p "$work"
# The plugins, from the same package versions the build uses (the local mirror).
build_plugin() { # repo version product
    local dir="$work/$(basename "$1")"
    [ -d "$dir" ] || git clone -q --branch "$2" "https://github.com/$1.git" "$dir"
    swift build -c release --package-path "$dir" --product "$3" >&2
    echo "$dir/.build/release/$3"
}
swift_plugin=$(build_plugin apple/swift-protobuf 1.39.0 protoc-gen-swift)
grpc_plugin=$(build_plugin grpc/grpc-swift-protobuf 2.4.1 protoc-gen-grpc-swift-2)
rm -rf "$out" && mkdir -p "$out"
protoc --proto_path=proto \
    --plugin=protoc-gen-swift="$swift_plugin" --swift_out="$out" --swift_opt=Visibility=Public \
    --plugin=protoc-gen-grpc-swift="$grpc_plugin" --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public \
    proto/callstream/v1/*.proto
# Generated code is not ours to format or lint.
find "$out" -name '*.swift' -exec sed -i '1i // swift-format-ignore-file' {} +
sha256sum proto/callstream/v1/*.proto > "$out/proto.sha256"
echo "generated $(ls "$out" | wc -l) files in $out"
