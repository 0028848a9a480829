// swift-tools-version:6.2
import Foundation
import PackageDescription

let package = Package(
    name: "CallStream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stream-server", targets: ["StreamServer"]),
        .executable(name: "audio-worker", targets: ["AudioWorker"]),
        .executable(name: "load-client", targets: ["LoadClient"]),
        .executable(name: "pbx-ingest", targets: ["PBXIngest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(
            name: "Protocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Audio headers, decoders and silence detection, shared by the server's upload check
        // and the worker's analysis.
        .target(name: "AudioAnalysis", dependencies: ["CMpg123"]),
        // libmpg123 (MP3 decoding), found with pkg-config.
        .systemLibrary(name: "CMpg123", pkgConfig: "libmpg123", providers: [.apt(["libmpg123-dev"])]),
        // libopus (Opus decoding in the worker, encoding in the load client), found with pkg-config.
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev"])]),
        // libmp3lame (Debian's libmp3lame-dev): the permanent MP3 copies of recordings.
        .systemLibrary(name: "CMp3Lame", pkgConfig: "lame", providers: [.apt(["libmp3lame-dev"])]),
        // Live-session codecs (G.711 tables, libopus) and the worker's per-session decoders: a
        // library so the worker decodes with it, the load client encodes with it, both
        // directions are unit-tested, and the fuzzers feed it.
        .target(name: "AudioCodecs", dependencies: ["COpus", "CMp3Lame", "Protocol", .product(name: "NIOCore", package: "swift-nio")]),
        // Streaming multipart/form-data reading for uploads: a library so its edge cases
        // (delimiters split across reads) are unit-tested without a server.
        .target(name: "HTTPMultipart", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // permessage-deflate (RFC 7692) on compress-nio: a library so the server and the load
        // client share one implementation, unit-tested in both directions.
        .target(
            name: "WebSocketDeflate",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "CompressNIO", package: "compress-nio")]
        ),
        // What clients send, parsed and checked (control messages, a call's fields, Range
        // headers, search parameters): a library so the fuzzers run the server's own code.
        .target(name: "RequestParsing", dependencies: ["Protocol"]),
        // The gRPC API's messages and service stubs, generated from proto/ by `make proto` and
        // committed (the generator plugins take ten minutes to build): shared by the server
        // and pbx-ingest.
        .target(
            name: "CallStreamGRPC",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Generated/proto.sha256"]
        ),
        // Telephony providers' protocols (Twilio Media Streams, Asterisk AudioSocket) and the
        // track alignment they need: pure Swift, a library so each is unit-tested and fuzzed.
        .target(name: "Telephony", dependencies: ["RequestParsing", "Protocol", .product(name: "NIOCore", package: "swift-nio")]),
        // pocketsphinx 0.8 and sphinxbase (Debian's libpocketsphinx-dev), found with pkg-config.
        .systemLibrary(name: "CPocketSphinx", pkgConfig: "pocketsphinx", providers: [.apt(["libpocketsphinx-dev"])]),
        // The speech engines and what feeds them (resampling to 16 kHz, endpointing, the
        // repetition guard): a library so each part is tested on real audio without a worker.
        .target(name: "SpeechRecognition", dependencies: ["CPocketSphinx"]),
        // posix_spawn's closefrom action, which Swift's Glibc module does not export.
        .target(name: "CProcessSpawn"),
        // sync_file_range, which Swift's Glibc module does not export either.
        .target(name: "CWriteback"),
        // How a thread is scheduled (its name, nice value and scheduler slice; sched_setattr
        // through a C shim, as Swift's Glibc module does not export it): one library for the
        // server's threads and the worker's.
        .target(name: "CThreadScheduling"),
        .target(name: "ThreadScheduling", dependencies: ["CThreadScheduling"]),
        .executableTarget(
            name: "StreamServer",
            dependencies: [
                "Protocol",
                "RequestParsing",
                "Telephony",
                "CallStreamGRPC",
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                "CProcessSpawn",
                "CWriteback",
                "ThreadScheduling",
                "AudioAnalysis",
                "HTTPMultipart",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // sqlite3_memory_used() for the SQLite memory gauge.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "WebSocketDeflate",
            ]
        ),
        .executableTarget(
            name: "AudioWorker",
            dependencies: [
                "Protocol",
                "AudioAnalysis",
                "AudioCodecs",
                "SpeechRecognition",
                "ThreadScheduling",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // `pbx-ingest`: PBX recording folders to the gRPC API.
        .executableTarget(
            name: "PBXIngest",
            dependencies: [
                "Telephony",
                "CallStreamGRPC",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "StreamClient",
            dependencies: [
                "Protocol",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "LoadClient",
            dependencies: [
                "Protocol",
                "StreamClient",
                "AudioAnalysis",
                "AudioCodecs",
                "WebSocketDeflate",
                "SpeechRecognition",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ProtocolTests",
            dependencies: [
                "Protocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "AudioAnalysisTests", dependencies: ["AudioAnalysis"]),
        .testTarget(name: "AudioCodecsTests", dependencies: ["AudioCodecs"]),
        .testTarget(
            name: "TelephonyTests",
            dependencies: ["Telephony", "RequestParsing", "Protocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "SpeechRecognitionTests", dependencies: ["SpeechRecognition", "AudioAnalysis"]),
        .testTarget(
            name: "WebSocketDeflateTests",
            dependencies: ["WebSocketDeflate", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "HTTPMultipartTests",
            dependencies: ["HTTPMultipart", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "StreamServerTests",
            dependencies: [
                "Protocol", "StreamClient", "StreamServer", "AudioWorker", "LoadClient", "AudioAnalysis", "AudioCodecs", "SpeechRecognition",
                "ThreadScheduling",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets (Fuzz/), only with CALLSTREAM_FUZZ=1: they link against libFuzzer, which
// exists only in a `-sanitize=fuzzer` build (`make fuzz`, scripts/fuzz.sh, in .build-fuzz).
if ProcessInfo.processInfo.environment["CALLSTREAM_FUZZ"] == "1" {
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/Driver"))
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("pipe-frame", ["Protocol"]),
        ("wav", ["AudioAnalysis"]),
        ("mp3", ["AudioAnalysis"]),
        ("session-codecs", ["AudioCodecs", "Protocol"]),
        ("multipart", ["HTTPMultipart"]),
        ("control-message", ["RequestParsing", "Protocol"]),
        ("range", ["RequestParsing"]),
        ("query", ["RequestParsing"]),
        ("twilio", ["Telephony", "Protocol"]),
        ("audiosocket", ["Telephony"]),
        ("pbx-metadata", ["Telephony"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: ["FuzzDriver", .product(name: "NIOCore", package: "swift-nio")] + dependencies,
                path: "Fuzz/Targets/\(name)"
            )
        )
    }
}
