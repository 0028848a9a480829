import ArgumentParser
import Foundation
import Logging

/// `stream-server` flags. Each also reads an environment variable (shown in `--help`); a flag
/// on the command line wins over the variable.
struct StreamServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream-server",
        abstract: "CallStream: streaming transcription server for call audio.",
        discussion: "Every option can also be set by the environment variable named in its help; a flag on the command line wins.",
        version: BuildInfo.summary
    )

    @Option(help: "Address to listen on. (env: CALLSTREAM_HOST)")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one. (env: CALLSTREAM_PORT)")
    var port = 8000

    @Option(help: "Directory for the database and recordings. (env: CALLSTREAM_DATA_DIR)")
    var dataDir = "./data"

    @Option(help: "Number of audio-worker processes. (env: CALLSTREAM_WORKERS)")
    var workers = 1

    @Option(help: "Path of the audio-worker binary; default: the one beside stream-server. (env: CALLSTREAM_WORKER_PATH)")
    var workerPath: String?

    @Option(help: "Largest audio chunk (binary message) in bytes; larger closes the stream with 1009. (env: CALLSTREAM_MAX_CHUNK_BYTES)")
    var maxChunkBytes = 1 << 20

    @Option(help: "Seconds to let in-flight chunks finish on SIGTERM/SIGINT before closing streams. (env: CALLSTREAM_DRAIN_TIMEOUT)")
    var drainTimeout: Double = 10

    @Option(help: "Chunks one stream may have awaiting transcripts before the server stops reading it. (env: CALLSTREAM_MAX_IN_FLIGHT)")
    var maxInFlight = 64

    @Option(help: "Largest recording upload in bytes; larger is refused with 413. (env: CALLSTREAM_MAX_UPLOAD_BYTES)")
    var maxUploadBytes: Int64 = 512 << 20

    @Option(
        help:
            "Seconds a client may pause in the middle of a request body (an upload) before the connection is closed. (env: CALLSTREAM_REQUEST_BODY_TIMEOUT)"
    )
    var requestBodyTimeout: Double = 60

    @Option(
        help:
            "Seconds a worker may spend on a recording's analysis without finishing one before it is killed and the analysis retried once, then failed. (env: CALLSTREAM_ANALYSIS_TIMEOUT)"
    )
    var analysisTimeout: Double = 600

    @Option(
        help:
            "Seconds a worker may leave a heartbeat unanswered (hung, on a chunk or otherwise) before it is killed and replaced. (env: CALLSTREAM_WORKER_TIMEOUT)"
    )
    var workerTimeout: Double = 10

    @Option(
        help:
            "Milliseconds between writes of audio to a worker: chunks that arrive within it share one write and one wake-up of the worker (less CPU under load, at most this much more latency); 0 writes them at once. (env: CALLSTREAM_WORKER_WRITE_INTERVAL_MS)"
    )
    var workerWriteIntervalMs: Double = 1

    @Option(
        help: "Seconds a live session whose connection dropped without stop waits for a resume; 0 ends it at once. (env: CALLSTREAM_RESUME_WINDOW)"
    )
    var resumeWindow: Double = 30

    @Option(
        help:
            "Empty files kept ready for live sessions' recordings, so that a burst of this many starts creates none (each is a spare renamed); 0: each start creates its file. (env: CALLSTREAM_SPARE_RECORDING_FILES)"
    )
    var spareRecordingFiles: Int = 1024

    @Option(
        help:
            "Longest recording in minutes: a longer upload is refused (413), a live session is stopped there and its first minutes kept; default: no limit. (env: CALLSTREAM_MAX_RECORDING_MINUTES)"
    )
    var maxRecordingMinutes: Double?

    @Option(
        help:
            "Delete calls that started more than this many days ago (in the background, in small batches); default: keep all. (env: CALLSTREAM_RETENTION_DAYS)"
    )
    var retentionDays: Double?

    @Option(
        help: "Seconds between retention passes (expired idempotency keys, and calls with --retention-days). (env: CALLSTREAM_RETENTION_INTERVAL)"
    )
    var retentionInterval: Double = 3600

    @Option(help: "Most open WebSocket connections; past it upgrades get 503 server_full. (env: CALLSTREAM_MAX_CONNECTIONS)")
    var maxConnections = 10_000

    @Option(
        help:
            "Seconds a WebSocket may send nothing (and await nothing) before it is closed with 1001; 0: never. (env: CALLSTREAM_IDLE_TIMEOUT)"
    )
    var idleTimeout: Double = 60

    @Option(
        help:
            "Seconds a connection may take to send a request's head (slowloris), and may stay idle between requests. (env: CALLSTREAM_REQUEST_TIMEOUT)"
    )
    var requestTimeout: Double = 30

    @Option(
        help:
            "Seconds a WebSocket client may leave its results unread (outgoing queue full) before it is closed with 1008; 0: never. (env: CALLSTREAM_SEND_TIMEOUT)"
    )
    var sendTimeout: Double = 30

    @Option(
        help:
            "File of bearer tokens, one a line: every route but the health checks then needs `Authorization: Bearer <token>` (or ?token= on the WebSocket URL); reloaded on SIGHUP. default: none (no auth). (env: CALLSTREAM_AUTH_TOKENS_FILE)"
    )
    var authTokensFile: String?

    @Option(
        help:
            "Permanent storage of finished recordings: wav keeps them as they came; mp3 has the workers transcode each WAV to MP3 (stereo stays stereo) after its analysis, and the MP3 replaces it. (env: CALLSTREAM_ARCHIVE_FORMAT)"
    )
    var archiveFormat = "wav"

    @Option(
        help:
            "MP3 bitrate in kbps for --archive-format mp3 (8–320; libmp3lame rounds to what the sample rate allows). (env: CALLSTREAM_ARCHIVE_BITRATE)"
    )
    var archiveBitrate = 48

    @Option(
        help:
            "gRPC API (proto/callstream/v1/calls.proto) on this port of --host, HTTP/2 (TLS with --tls-cert), same tokens as REST; 0 picks a free one. default: off. (env: CALLSTREAM_GRPC_PORT)"
    )
    var grpcPort: Int?

    @Option(
        help:
            "Asterisk AudioSocket: listen for AudioSocket() connections (plain TCP, no auth: keep it on a private network) on this port of --host; 0 picks a free one. default: off. (env: CALLSTREAM_AUDIOSOCKET_PORT)"
    )
    var audiosocketPort: Int?

    @Option(help: "TLS certificate chain (PEM): serve HTTPS and wss:// (needs --tls-key). default: none (plain HTTP). (env: CALLSTREAM_TLS_CERT)")
    var tlsCert: String?

    @Option(help: "TLS private key (PEM), for --tls-cert; default: none. (env: CALLSTREAM_TLS_KEY)")
    var tlsKey: String?

    @Option(
        help:
            "A browser origin (https://app.example.com) allowed to use the API (CORS) and to open live streams; repeatable; default: none (CORS off, any origin may stream). (env: CALLSTREAM_CORS_ORIGIN, comma-separated)"
    )
    var corsOrigin: [String] = []

    @Option(help: "Silence analysis: loudness (dBFS) at or below which a window is silent. (env: CALLSTREAM_SILENCE_THRESHOLD_DB)")
    var silenceThresholdDb: Double = -40

    @Option(help: "Silence analysis: shortest silence reported, in milliseconds. (env: CALLSTREAM_MIN_SILENCE_MS)")
    var minSilenceMs = 500

    @Option(
        help:
            "Speech recognition: mock (deterministic text, the default), moonshine (accurate finals), pocketsphinx (partials and word times), hybrid (pocketsphinx's partials, Moonshine's finals; recommended for live calls). (env: CALLSTREAM_ENGINE)"
    )
    var engine = "mock"

    @Option(
        help:
            "The moonshine-cpp wheel's moonshine_cpp folder, for --engine moonshine or hybrid; `make setup` links it at .venv/moonshine. (env: CALLSTREAM_MOONSHINE_DIR)"
    )
    var moonshineDir = "./.venv/moonshine"

    @Option(help: "The pocketsphinx model folder (Debian's pocketsphinx-en-us). (env: CALLSTREAM_POCKETSPHINX_MODEL)")
    var pocketsphinxModel = "/usr/share/pocketsphinx/model/en-us"

    @Option(help: "Mock engine: simulated processing time per chunk in milliseconds. (env: CALLSTREAM_MOCK_LATENCY_MS)")
    var mockLatencyMs = 0

    @Option(help: "Event-loop threads for sockets and worker pipes; default: one per core. (env: CALLSTREAM_EVENT_LOOPS)")
    var eventLoops: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (env: CALLSTREAM_LOG_LEVEL)")
    var logLevel = "info"

    @Option(help: "Log lines as text or as one JSON object each: text, json. (env: CALLSTREAM_LOG_FORMAT)")
    var logFormat = "text"

    @Flag(
        help:
            "Offer permessage-deflate (RFC 7692) to WebSocket clients that ask; default: off (audio does not compress). (env: CALLSTREAM_WS_COMPRESSION=true)"
    )
    var wsCompression = false

    @Flag(help: ArgumentHelp("Tests only: an echo WebSocket endpoint at /api/test/echo (Autobahn|Testsuite's data cases).", visibility: .hidden))
    var testEchoEndpoint = false

    @Flag(help: "Log phone numbers in full instead of masked (+7******4567); default: masked. (env: CALLSTREAM_LOG_PII=true)")
    var logPii = false

    /// The environment variable behind each flag, read in this one place.
    static let environmentVariables: [(flag: String, variable: String)] = [
        ("--host", "CALLSTREAM_HOST"),
        ("--port", "CALLSTREAM_PORT"),
        ("--data-dir", "CALLSTREAM_DATA_DIR"),
        ("--workers", "CALLSTREAM_WORKERS"),
        ("--worker-path", "CALLSTREAM_WORKER_PATH"),
        ("--max-chunk-bytes", "CALLSTREAM_MAX_CHUNK_BYTES"),
        ("--drain-timeout", "CALLSTREAM_DRAIN_TIMEOUT"),
        ("--max-in-flight", "CALLSTREAM_MAX_IN_FLIGHT"),
        ("--max-upload-bytes", "CALLSTREAM_MAX_UPLOAD_BYTES"),
        ("--request-body-timeout", "CALLSTREAM_REQUEST_BODY_TIMEOUT"),
        ("--analysis-timeout", "CALLSTREAM_ANALYSIS_TIMEOUT"),
        ("--worker-timeout", "CALLSTREAM_WORKER_TIMEOUT"),
        ("--worker-write-interval-ms", "CALLSTREAM_WORKER_WRITE_INTERVAL_MS"),
        ("--resume-window", "CALLSTREAM_RESUME_WINDOW"),
        ("--spare-recording-files", "CALLSTREAM_SPARE_RECORDING_FILES"),
        ("--max-recording-minutes", "CALLSTREAM_MAX_RECORDING_MINUTES"),
        ("--retention-days", "CALLSTREAM_RETENTION_DAYS"),
        ("--retention-interval", "CALLSTREAM_RETENTION_INTERVAL"),
        ("--silence-threshold-db", "CALLSTREAM_SILENCE_THRESHOLD_DB"),
        ("--min-silence-ms", "CALLSTREAM_MIN_SILENCE_MS"),
        ("--mock-latency-ms", "CALLSTREAM_MOCK_LATENCY_MS"),
        ("--engine", "CALLSTREAM_ENGINE"),
        ("--moonshine-dir", "CALLSTREAM_MOONSHINE_DIR"),
        ("--pocketsphinx-model", "CALLSTREAM_POCKETSPHINX_MODEL"),
        ("--event-loops", "CALLSTREAM_EVENT_LOOPS"),
        ("--log-level", "CALLSTREAM_LOG_LEVEL"),
        ("--log-format", "CALLSTREAM_LOG_FORMAT"),
        ("--max-connections", "CALLSTREAM_MAX_CONNECTIONS"),
        ("--idle-timeout", "CALLSTREAM_IDLE_TIMEOUT"),
        ("--request-timeout", "CALLSTREAM_REQUEST_TIMEOUT"),
        ("--send-timeout", "CALLSTREAM_SEND_TIMEOUT"),
        ("--auth-tokens-file", "CALLSTREAM_AUTH_TOKENS_FILE"),
        ("--tls-cert", "CALLSTREAM_TLS_CERT"),
        ("--tls-key", "CALLSTREAM_TLS_KEY"),
        ("--audiosocket-port", "CALLSTREAM_AUDIOSOCKET_PORT"),
        ("--archive-format", "CALLSTREAM_ARCHIVE_FORMAT"),
        ("--grpc-port", "CALLSTREAM_GRPC_PORT"),
        ("--archive-bitrate", "CALLSTREAM_ARCHIVE_BITRATE"),
    ]
    /// Repeatable options: the variable holds comma-separated values.
    static let environmentLists: [(flag: String, variable: String)] = [
        ("--cors-origin", "CALLSTREAM_CORS_ORIGIN")
    ]
    /// Boolean flags: the variable set to `true` or `1` adds the flag.
    static let environmentFlags: [(flag: String, variable: String)] = [
        ("--log-pii", "CALLSTREAM_LOG_PII"),
        ("--ws-compression", "CALLSTREAM_WS_COMPRESSION"),
    ]

    /// Command-line arguments with a `--flag value` added for every variable that is set and
    /// whose flag was not given, so both go through the same parsing and validation.
    static func arguments(commandLine: [String], environment: [String: String]) -> [String] {
        var arguments = commandLine
        for (flag, variable) in Self.environmentVariables {
            guard let value = environment[variable] else { continue }
            let given = commandLine.contains { $0 == flag || $0.hasPrefix(flag + "=") }
            if !given {
                arguments += [flag, value]
            }
        }
        for (flag, variable) in Self.environmentLists {
            guard let value = environment[variable], !commandLine.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) else { continue }
            for item in value.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
                arguments += [flag, item.trimmingCharacters(in: .whitespaces)]
            }
        }
        for (flag, variable) in Self.environmentFlags {
            guard let value = environment[variable]?.lowercased(), value == "true" || value == "1" else { continue }
            if !commandLine.contains(flag) { arguments.append(flag) }
        }
        return arguments
    }

    /// The variable a bad value came from, when the message names a flag that was not on the
    /// command line but set by its variable.
    static func environmentSource(of message: String, commandLine: [String], environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String?
    {
        let all = Self.environmentVariables + Self.environmentFlags + Self.environmentLists
        for (flag, variable) in all where message.contains(flag) && environment[variable] != nil {
            if !commandLine.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) { return variable }
        }
        return nil
    }

    func validate() throws {
        guard (1...64).contains(self.workers) else { throw ValidationError("--workers must be 1...64") }
        guard (1...(64 << 20)).contains(self.maxChunkBytes) else { throw ValidationError("--max-chunk-bytes must be 1...67108864") }
        guard self.drainTimeout >= 0 else { throw ValidationError("--drain-timeout must be >= 0") }
        guard (1...100_000).contains(self.maxInFlight) else { throw ValidationError("--max-in-flight must be 1...100000") }
        if let eventLoops = self.eventLoops, !(1...256).contains(eventLoops) { throw ValidationError("--event-loops must be 1...256") }
        guard (1...600_000).contains(self.minSilenceMs) else { throw ValidationError("--min-silence-ms must be 1...600000") }
        guard (-200...0).contains(self.silenceThresholdDb) else { throw ValidationError("--silence-threshold-db must be -200...0") }
        guard self.workerTimeout >= 0.1 && self.workerTimeout <= 86_400 else { throw ValidationError("--worker-timeout must be 0.1...86400 s") }
        guard (0...100).contains(self.workerWriteIntervalMs) else { throw ValidationError("--worker-write-interval-ms must be 0...100") }
        guard self.analysisTimeout > 0 else { throw ValidationError("--analysis-timeout must be > 0") }
        guard (0...86_400).contains(self.resumeWindow) else { throw ValidationError("--resume-window must be 0...86400") }
        guard (0...100_000).contains(self.spareRecordingFiles) else { throw ValidationError("--spare-recording-files must be 0...100000") }
        if let minutes = self.maxRecordingMinutes, !(minutes > 0 && minutes <= 100_000) {
            throw ValidationError("--max-recording-minutes must be > 0 and at most 100000")
        }
        if let retentionDays = self.retentionDays, !(retentionDays > 0 && retentionDays <= 36_500) {
            throw ValidationError("--retention-days must be > 0 and at most 36500")
        }
        guard self.retentionInterval >= 0.1 else { throw ValidationError("--retention-interval must be at least 0.1 s") }
        guard self.requestBodyTimeout > 0 else { throw ValidationError("--request-body-timeout must be > 0") }
        guard self.maxUploadBytes >= 1 else { throw ValidationError("--max-upload-bytes must be at least 1") }
        guard (1...1_000_000).contains(self.maxConnections) else { throw ValidationError("--max-connections must be 1...1000000") }
        guard (0...86_400).contains(self.idleTimeout) else { throw ValidationError("--idle-timeout must be 0...86400 s") }
        guard self.requestTimeout > 0 && self.requestTimeout <= 86_400 else {
            throw ValidationError("--request-timeout must be > 0 and at most 86400 s")
        }
        guard (0...86_400).contains(self.sendTimeout) else { throw ValidationError("--send-timeout must be 0...86400 s") }
        guard ["wav", "mp3"].contains(self.archiveFormat) else { throw ValidationError("--archive-format must be wav or mp3") }
        guard (8...320).contains(self.archiveBitrate) else { throw ValidationError("--archive-bitrate must be 8...320 (kbps)") }
        if let port = self.audiosocketPort, !(0...65_535).contains(port) {
            throw ValidationError("--audiosocket-port must be 0...65535")
        }
        if let port = self.grpcPort, !(0...65_535).contains(port) {
            throw ValidationError("--grpc-port must be 0...65535")
        }
        guard (self.tlsCert == nil) == (self.tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        for origin in self.corsOrigin where !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) || origin.hasSuffix("/") {
            throw ValidationError("--cors-origin takes an origin like https://app.example.com, not '\(origin)'")
        }
        guard ["mock", "moonshine", "pocketsphinx", "hybrid"].contains(self.engine) else {
            throw ValidationError("--engine must be mock, moonshine, pocketsphinx or hybrid, not '\(self.engine)'")
        }
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be 0...65535") }
        guard Logger.Level(rawValue: self.logLevel) != nil else { throw ValidationError("unknown --log-level '\(self.logLevel)'") }
        guard LogLineHandler.Format(rawValue: self.logFormat) != nil else {
            throw ValidationError("--log-format must be text or json, not '\(self.logFormat)'")
        }
    }

    func run() async throws {
        let settings = LogLineHandler.Settings(format: LogLineHandler.Format(rawValue: self.logFormat) ?? .text, showPII: self.logPii)
        LoggingSystem.bootstrap { label in LogLineHandler(label: label, settings: settings) }
        var logger = Logger(label: "stream-server")
        logger.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
        let serviceGroup = try buildServer(self, logger: logger)
        try await serviceGroup.run()
    }

    /// The `audio-worker` beside this executable, unless `--worker-path` says otherwise.
    var resolvedWorkerPath: String {
        if let workerPath { return workerPath }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("audio-worker").path
    }
}
