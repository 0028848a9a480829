import ArgumentParser
import Foundation
import NIOPosix
import StreamClient

#if canImport(Glibc)
    import Glibc
#endif

/// `load-client`: opens N WebSocket streams, sends M chunks on each, checks every ack and
/// transcript, and reports throughput and latency percentiles. Exits non-zero on any loss,
/// duplicate, reorder or error.
@main
struct LoadClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-client",
        abstract: "Load generator and protocol checker for /api/audio/ws."
    )

    @Option(help: "WebSocket URL of the stream endpoint: ws:// or wss:// (TLS).")
    var url = "ws://127.0.0.1:8000/api/audio/ws"

    @Flag(help: "With wss://: accept any server certificate (self-signed test certificates).")
    var insecure = false

    @Option(help: "Bearer token sent with every upgrade (a server with --auth-tokens-file).")
    var token: String?

    @Option(help: "Concurrent connections.")
    var clients = 10

    @Option(help: "Chunks to send on each connection.")
    var messages = 100

    @Option(help: "Milliseconds between chunks on a connection; 0 = as fast as --in-flight allows.")
    var rateMs: Double = 10

    @Option(help: "Bytes per chunk.")
    var chunkBytes = 4096

    @Option(help: "With --rate-ms 0: chunks a connection may have awaiting transcripts.")
    var inFlight = 16

    @Option(help: "Seconds to hold all connections open once connected (idle-connection tests).")
    var holdS: Double = 0

    @Option(help: "Seconds to wait for missing replies after sending ends.")
    var timeoutS: Double = 30

    @Option(help: "Connections being opened at once.")
    var connectParallelism = 200

    @Option(help: "Event-loop threads.")
    var threads = 1

    @Flag(help: "Do not check transcripts against the mock engine's text (for real engines).")
    var anyText = false

    @Option(
        help:
            "With --wav and a real engine: score each session's finals against this reference (plain text, or JSON with a \"sentences\" list, like ../shared/audio/call30.json); reports the word error rate. Implies --any-text."
    )
    var expectText: String?

    @Flag(
        help:
            "Offer permessage-deflate (RFC 7692): chunks go compressed, compressed replies are inflated; a connection the server does not agree to compress fails. Plain streams only."
    )
    var compression = false

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @Option(
        help: "Stream this 16-bit PCM WAV file as a started session on every connection (real-time pace; --rate-ms 0: as fast as --in-flight allows)."
    )
    var wav: String?

    @Option(help: "With --wav: pcm_s16le, mulaw, alaw or opus (encoded by the load client).")
    var codec = "pcm_s16le"

    @Option(help: "With --wav: milliseconds of audio per chunk (Opus: 2.5 to 120 in libopus's steps).")
    var chunkMs = 100

    @Flag(help: "With --wav: send stop after the last chunk and check the stopped counts.")
    var stop = false

    @Flag(help: "With --wav: start the sessions with record: false (nothing stored).")
    var noRecord = false

    @Option(help: "With --wav: drop each connection every this many seconds (no close frame) and resume the session.")
    var dropAfterS: Double = 0

    @Option(help: "Write every reply's send time (monotonic ns), kind (0 ack, 1 transcript) and latency (µs) to this file.")
    var latencyLog: String?

    @Flag(
        help:
            "With --wav (8 kHz mono): speak Twilio Media Streams instead (use --url ws://…/api/twilio/ws): both tracks, the file inbound and silence outbound, 20 ms media events at real-time pace, then stop; prints JSON with each stream's callSid."
    )
    var twilio = false

    func validate() throws {
        guard self.clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard self.messages >= 0, self.chunkBytes >= 1, self.inFlight >= 1, self.rateMs >= 0 else {
            throw ValidationError("--messages, --chunk-bytes, --in-flight and --rate-ms must be positive")
        }
        guard ["pcm_s16le", "mulaw", "alaw", "opus"].contains(self.codec) else {
            throw ValidationError("--codec must be pcm_s16le, mulaw, alaw or opus")
        }
        guard self.chunkMs >= 1, self.dropAfterS >= 0 else { throw ValidationError("--chunk-ms must be at least 1 and --drop-after-s not negative") }
    }

    func run() async throws {
        raiseOpenFileLimit(to: self.clients + 256)
        guard let components = URLComponents(string: self.url), components.scheme == "ws" || components.scheme == "wss", let host = components.host
        else {
            throw ValidationError("--url must look like ws://host:port/path or wss://host:port/path")
        }
        let secure = components.scheme == "wss"
        let path =
            (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath) + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        var configuration = LoadConfiguration(
            host: host,
            port: components.port ?? (secure ? 443 : 80),
            path: path,
            clients: self.clients,
            messages: self.messages,
            rateMs: self.rateMs,
            chunkBytes: self.chunkBytes,
            inFlight: self.inFlight,
            holdSeconds: self.holdS,
            timeoutSeconds: self.timeoutS,
            connectParallelism: self.connectParallelism,
            checkMockText: !self.anyText && self.expectText == nil,
            chunkMs: self.chunkMs,
            stop: self.stop,
            dropAfterSeconds: self.dropAfterS,
            record: !self.noRecord,
            compression: self.compression,
            progress: self.json ? nil : LiveProgress.forTerminal()
        )
        configuration.expectedText = try self.expectText.map(Self.referenceText(path:))
        configuration.logsReplies = self.latencyLog != nil
        if secure { configuration.tls = try WebSocketConnector.tlsContext(insecure: self.insecure) }
        if let token = self.token { configuration.headers.append(("Authorization", "Bearer \(token)")) }
        if self.twilio {
            guard let wav = self.wav else { throw ValidationError("--twilio needs --wav") }
            let audio = try SessionAudio.load(path: wav, codec: "mulaw", chunkMs: 20)
            guard audio.sampleRate == 8000, audio.channels == 1 else { throw ValidationError("--twilio needs an 8 kHz mono WAV") }
            return try await self.runTwilio(audio, configuration: configuration)
        }
        let audio = try self.wav.map { try SessionAudio.load(path: $0, codec: self.codec, chunkMs: self.chunkMs) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let run = LoadRun(configuration: configuration, group: group)
        let shown = configuration.progress?.show()
        let result = if let audio { await run.runSessions(audio) } else { await run.run() }
        shown?.cancel()
        await shown?.value
        try? await group.shutdownGracefully()
        let report = LoadReport(configuration: configuration, result: result)
        if let path = self.latencyLog { try LatencyLog.write(result.outcomes, to: path) }
        print(self.json ? report.json() : report.table())
        if !report.ok { throw ExitCode(1) }
    }
}

extension LoadClientCommand {
    /// `--twilio`: the streams' outcomes as one JSON object; exits 1 unless every stream was
    /// closed with 1000 after its stop and got nothing else.
    func runTwilio(_ audio: SessionAudio, configuration: LoadConfiguration) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads)
        let started = ContinuousClock.now
        let (outcomes, failed, errors) = await LoadRun(configuration: configuration, group: group).runTwilio(audio)
        let elapsed = ContinuousClock.now - started
        try? await group.shutdownGracefully()
        let normal = outcomes.filter { $0.closeCode == 1000 && $0.dataFrames == 0 }.count
        let report: [String: Any] = [
            "streams": self.clients, "opened": outcomes.count, "failed": failed, "closed_normally": normal,
            "data_frames": outcomes.reduce(0) { $0 + $1.dataFrames }, "media_sent": outcomes.reduce(0) { $0 + $1.mediaSent },
            "elapsed_s": Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            "call_sids": outcomes.map(\.callSid), "connect_errors": errors, "ok": normal == self.clients,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
        if normal != self.clients { throw ExitCode(1) }
    }

    /// A reference transcript: the file's text, or its JSON's `sentences` joined.
    static func referenceText(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--expect-text: cannot read \(path)") }
        if let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let sentences = json["sentences"] as? [String] {
            return sentences.joined(separator: " ")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A run of N connections needs N descriptors: raise the soft limit (up to the hard one).
private func raiseOpenFileLimit(to wanted: Int) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    let target = min(rlim_t(max(wanted, Int(limit.rlim_cur))), limit.rlim_max)
    if target > limit.rlim_cur {
        limit.rlim_cur = target
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
