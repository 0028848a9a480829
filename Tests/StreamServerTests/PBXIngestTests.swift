import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A running `pbx-ingest` with its log.
final class PBXIngestProcess: @unchecked Sendable {
    let process = Process()
    let logFile: URL

    init(folder: URL, done: URL, port: Int, server: String? = nil, extra: [String] = [], environment: [String: String] = [:]) throws {
        self.logFile = folder.deletingLastPathComponent().appendingPathComponent("pbx-ingest-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: self.logFile.path, contents: nil)
        self.process.executableURL = URL(fileURLWithPath: Binaries.path("pbx-ingest"))
        self.process.arguments =
            [
                "--watch", folder.path, "--server", server ?? "http://127.0.0.1:\(port)", "--done-dir", done.path, "--settle-seconds", "0.3",
                "--rescan-seconds", "1", "--retry-max-seconds", "1",
            ] + extra
        self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: self.logFile)
        self.process.standardOutput = log
        self.process.standardError = log
        try self.process.run()
    }

    var log: String { (try? String(contentsOf: self.logFile, encoding: .utf8)) ?? "" }

    func stop() {
        if self.process.isRunning { kill(self.process.processIdentifier, SIGTERM) }
        self.process.waitUntilExit()
    }
}

/// `pbx-ingest` over real folders, against a real server's gRPC port.
@Suite struct PBXIngestTests {
    /// A port nothing listens on yet.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func folders() throws -> (watch: URL, done: URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pbx-\(UUID().uuidString)")
        let watch = root.appendingPathComponent("incoming")
        let done = root.appendingPathComponent("done")
        for folder in [watch, done] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        return (watch, done)
    }

    static func write(_ folder: URL, _ name: String, _ content: Data) throws {
        try content.write(to: folder.appendingPathComponent(name))
    }

    static func json(_ object: [String: Any]) -> Data { CallAPITests.json(object) }

    static func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw TestServerError.timeout(what) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func names(_ folder: URL) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
    }

    /// Pairs written while the server is down wait (retried with backoff); once it is up they
    /// arrive once each — a flat metadata file and a FreeSWITCH CDR — and move to the done
    /// folder; a broken pair goes to `rejected/` with its reason.
    @Test func pairsWaitForTheServerThenArriveOnceEach() async throws {
        let (watch, done) = try Self.folders()
        let port = try Self.freePort()
        let wav = try CallAPITests.audio("call30_8k.wav")
        let ingest = try PBXIngestProcess(folder: watch, done: done, port: port)
        defer { ingest.stop() }
        try Self.write(watch, "a.wav", wav)
        try Self.write(
            watch,
            "a.json",
            Self.json(["caller": "+15550100401", "receiver": "+15550100402", "started_at": "2026-12-04T08:00:00Z", "external_id": "pbx-a"])
        )
        try Self.write(watch, "b.mp3", try CallAPITests.audio("call30.mp3"))
        let cdr: [String: Any] = [
            "core-uuid": "0f6a", "switchname": "pbx1",
            "variables": [
                "uuid": "5e1b7a3c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "caller_id_number": "%2B15550100403", "destination_number": "1002",
                "start_epoch": "1796371200", "start_stamp": "2026-12-04%2009%3A00%3A00",
            ],
        ]
        try Self.write(watch, "b.json", Self.json(cdr))
        try Self.write(watch, "broken.wav", wav)
        try Self.write(watch, "broken.json", Data("{not json".utf8))
        // The server is down: the pairs are retried, not lost and not rejected.
        // A few seconds alone; a minute allowed for a slow host under the whole suite's load.
        try await Self.waitFor("retries while the server is down", timeout: .seconds(60)) {
            ingest.log.components(separatedBy: "server unavailable; retrying").count > 3
        }
        #expect(Self.names(done).isEmpty)
        #expect(Self.names(watch).isSuperset(of: ["a.wav", "a.json", "b.mp3", "b.json"]))

        try await withServerOn(grpcPort: port) { server in
            try await Self.waitFor("both pairs sent") { Self.names(done) == ["a.wav", "a.json", "b.mp3", "b.json"] }
            let rejected = watch.appendingPathComponent("rejected")
            #expect(Self.names(rejected) == ["broken.wav", "broken.json", "broken.error"])
            let reason = try String(contentsOf: rejected.appendingPathComponent("broken.error"), encoding: .utf8)
            #expect(reason.contains("not a JSON object"))
            #expect(try Data(contentsOf: done.appendingPathComponent("a.wav")) == wav)
            let all = try await server.request("GET", "/calls")
            #expect(all.json["total"] as? Int == 2)
            let flat = try await TwilioStreamTests.call(server, externalID: "pbx-a")
            #expect(flat["caller"] as? String == "+15550100401" && flat["started_at"] as? String == "2026-12-04T08:00:00.000Z")
            #expect(flat["status"] as? String == "ready")
            let freeswitch = try await TwilioStreamTests.call(server, externalID: "5e1b7a3c-1a2b-4c3d-8e9f-0a1b2c3d4e5f")
            #expect(freeswitch["caller"] as? String == "+15550100403" && freeswitch["receiver"] as? String == "1002")
            #expect(freeswitch["started_at"] as? String == "2026-12-04T08:00:00.000Z")
            #expect((freeswitch["recording"] as? [String: Any])?["format"] as? String == "mp3")
        }
    }

    /// pbx-ingest dies after the server stored a pair but before it moved the files (the
    /// answer as good as lost); started again, it sends the pair again with the same keys, and
    /// the server answers as the first time: one call, one recording.
    @Test func aRestartMidwaySendsAgainWithoutADuplicate() async throws {
        let (watch, done) = try Self.folders()
        let port = try Self.freePort()
        try await withServerOn(grpcPort: port) { server in
            try Self.write(watch, "c.wav", try CallAPITests.audio("call30_8k.wav"))
            try Self.write(watch, "c.json", Self.json(["caller": "+15550100405", "receiver": "+15550100406", "started_at": 1_796_371_200]))
            let first = try PBXIngestProcess(folder: watch, done: done, port: port, environment: ["PBX_INGEST_CRASH_AFTER_UPLOAD": "1"])
            first.process.waitUntilExit()
            #expect(first.log.contains("crashing on purpose after the upload"))
            #expect(Self.names(watch) == ["c.wav", "c.json"])
            let second = try PBXIngestProcess(folder: watch, done: done, port: port)
            defer { second.stop() }
            try await Self.waitFor("the pair sent again") { Self.names(done) == ["c.wav", "c.json"] }
            let all = try await server.request("GET", "/calls")
            #expect(all.json["total"] as? Int == 1, "\(all.json)")
            let call = try #require((all.json["items"] as? [[String: Any]])?.first)
            #expect(call["caller"] as? String == "+15550100405")
        }
    }
}

extension PBXIngestTests {
    /// `https://`: the server's gRPC port under its TLS certificate, which pbx-ingest trusts
    /// through `--ca-file` (a self-signed one here).
    @Test func pairsGoOverTLS() async throws {
        let (watch, done) = try Self.folders()
        let directory = watch.deletingLastPathComponent()
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let (made, output) = try await runProcess(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ]
        )
        try #require(made == 0, "\(output)")
        let port = try Self.freePort()
        try await withServer(arguments: ["--grpc-port", String(port), "--tls-cert", cert, "--tls-key", key], waitForReady: false) { server in
            try Self.write(watch, "t.wav", try CallAPITests.audio("call30_8k.wav"))
            try Self.write(watch, "t.json", Self.json(["caller": "+15550100407", "receiver": "+15550100408", "started_at": "2026-12-04T08:00:00Z"]))
            let ingest = try PBXIngestProcess(folder: watch, done: done, port: port, server: "https://127.0.0.1:\(port)", extra: ["--ca-file", cert])
            defer { ingest.stop() }
            try await Self.waitFor("the pair sent over TLS") { Self.names(done) == ["t.wav", "t.json"] }
            #expect(server.log.contains("gRPC on port"))
        }
    }
}

/// A server whose gRPC API listens on `grpcPort`.
func withServerOn<T>(grpcPort: Int, _ body: (TestServer) async throws -> T) async throws -> T {
    try await withServer(arguments: ["--grpc-port", String(grpcPort)], body)
}
