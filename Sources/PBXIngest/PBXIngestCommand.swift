import ArgumentParser
import CallStreamGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging

/// `pbx-ingest`: runs on the telephony server, watches the folders the PBX writes finished
/// recordings to, and sends each one (audio + JSON metadata) to CallStream over gRPC.
@main
struct PBXIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pbx-ingest",
        abstract: "Send the recordings a PBX finishes in watched folders to CallStream over gRPC."
    )

    @Option(name: .customLong("watch"), help: "A folder the PBX writes recording pairs to (NAME.wav or NAME.mp3 with NAME.json); repeatable.")
    var folders: [String]

    @Option(help: "The server's gRPC address: http://host:port, or https://host:port for TLS.")
    var server: String

    @Option(help: "Bearer token (the server's --auth-tokens-file).")
    var token: String?

    @Option(
        help:
            "With https://: trust the server certificates this PEM file's CA signed (a private CA, a self-signed server); default: the system's roots."
    )
    var caFile: String?

    @Option(help: "Move sent pairs here (same file names).")
    var doneDir: String?

    @Flag(help: "Delete sent pairs.")
    var delete = false

    @Option(help: "Seconds both files of a pair must stay unchanged before it is sent.")
    var settleSeconds = 2.0

    @Option(help: "Seconds between rescans of the folders (besides inotify).")
    var rescanSeconds = 30.0

    @Option(help: "Pairs sent at once.")
    var concurrency = 4

    @Option(help: "Longest wait between retries while the server is unavailable, in seconds.")
    var retryMaxSeconds = 30.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        guard (self.doneDir != nil) != self.delete else { throw ValidationError("give exactly one of --done-dir and --delete") }
        guard !self.folders.isEmpty else { throw ValidationError("--watch at least one folder") }
        for folder in self.folders + [self.doneDir].compactMap({ $0 }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("\(folder) is not a folder")
            }
        }
        let endpoint = try self.endpoint()
        if let caFile = self.caFile {
            guard endpoint.tls else { throw ValidationError("--ca-file goes with an https:// --server") }
            guard FileManager.default.isReadableFile(atPath: caFile) else { throw ValidationError("--ca-file \(caFile) cannot be read") }
        }
        guard self.settleSeconds >= 0, self.rescanSeconds > 0, self.concurrency >= 1, self.retryMaxSeconds > 0 else {
            throw ValidationError("--settle-seconds ≥ 0, --rescan-seconds > 0, --concurrency ≥ 1, --retry-max-seconds > 0")
        }
    }

    /// host, port and TLS from `--server`.
    private func endpoint() throws -> (host: String, port: Int, tls: Bool) {
        guard let url = URLComponents(string: self.server), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host,
            !host.isEmpty
        else {
            throw ValidationError("--server must be http://host:port or https://host:port")
        }
        return (host, url.port ?? (scheme == "https" ? 443 : 80), scheme == "https")
    }

    func run() async throws {
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "pbx-ingest")
        let endpoint = try self.endpoint()
        let folders = self.folders.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let caFile = self.caFile
        let security: HTTP2ClientTransport.Posix.TransportSecurity =
            endpoint.tls
            ? .tls { config in
                if let caFile { config.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
            } : .plaintext
        // An IP address is not a name to send in TLS's SNI: it is resolved as it is.
        let target: any ResolvableTarget =
            endpoint.host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }.allSatisfy({ $0 != nil })
                && endpoint.host.split(separator: ".").count == 4
            ? ResolvableTargets.IPv4(addresses: [.init(host: endpoint.host, port: endpoint.port)])
            : ResolvableTargets.DNS(host: endpoint.host, port: endpoint.port)
        let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security)
        let settings = Ingester.Settings(
            settle: .milliseconds(Int64(self.settleSeconds * 1000)),
            concurrency: self.concurrency,
            retryMaximumSeconds: self.retryMaxSeconds,
            doneDirectory: self.doneDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        )
        let watcher = try FolderWatcher(folders: folders)
        let rescan = Duration.milliseconds(Int64(self.rescanSeconds * 1000))
        try await withGRPCClient(transport: transport) { client in
            let ingester = Ingester(
                client: IngestClient(calls: Callstream_V1_Calls.Client(wrapping: client), token: self.token),
                settings: settings,
                logger: logger
            )
            logger.info("watching", metadata: ["folders": "\(folders.joined(separator: ","))", "server": "\(self.server)"])
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    for await event in watcher.events() {
                        if let pair = RecordingPair.pair(of: event.name, in: event.folder) { await ingester.note(pair) }
                    }
                }
                group.addTask {
                    // At start, then periodically: nothing written while pbx-ingest was down is missed.
                    while true {
                        for folder in folders {
                            for pair in RecordingPair.scan(folder) { await ingester.note(pair) }
                        }
                        try await Task.sleep(for: rescan)
                    }
                }
                group.addTask {
                    while true {
                        await ingester.tick()
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
        }
    }
}
