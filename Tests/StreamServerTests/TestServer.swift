import Foundation
import NIOConcurrencyHelpers

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The built binaries live beside the test bundle.
enum Binaries {
    static let directory: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// Test timings that a sanitizer's slowdown would break scale by `CALLSTREAM_TEST_TIME_SCALE`
/// (`scripts/test-sanitize.sh` sets it; 1 otherwise).
enum TestTime {
    static let scale = ProcessInfo.processInfo.environment["CALLSTREAM_TEST_TIME_SCALE"].flatMap(Int.init).map { max($0, 1) } ?? 1
}

/// Workers a test stops (SIGSTOP) on purpose must not be killed as hung while a slow upload
/// runs: the heartbeat timeout is far longer than any test.
let stoppedWorkersArguments = ["--worker-timeout", "600"]

/// A real `stream-server` process with real `audio-worker` children, on a free port, logging
/// to a file in a temporary data directory (removed on `stop`).
final class TestServer: Sendable {
    let process: Process
    let port: Int
    let dataDir: URL
    let logFile: URL

    static func start(
        workers: Int? = 1,
        arguments: [String] = [],
        environment: [String: String] = [:],
        waitForReady: Bool = true,
        dataDir existingDataDir: URL? = nil
    ) async throws -> TestServer {
        let dataDir = existingDataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("callstream-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let logFile = dataDir.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("stream-server"))
        // A few spare recording files, not the default 1,024: the suite starts a hundred servers.
        let spares = arguments.contains("--spare-recording-files") ? [] : ["--spare-recording-files", "8"]
        process.arguments = ["--port", "0", "--data-dir", dataDir.path] + (workers.map { ["--workers", String($0)] } ?? []) + spares + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let port = try await Self.waitForPort(logFile: logFile, process: process)
        let server = TestServer(process: process, port: port, dataDir: dataDir, logFile: logFile)
        if waitForReady {
            try await server.waitUntilReady()
        }
        return server
    }

    private init(process: Process, port: Int, dataDir: URL, logFile: URL) {
        self.process = process
        self.port = port
        self.dataDir = dataDir
        self.logFile = logFile
    }

    /// The server logs the address it bound (`--port 0` picks a free one).
    private static func waitForPort(logFile: URL, process: Process) async throws -> Int {
        for _ in 0..<500 {
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            if let range = log.range(of: "listening on 127.0.0.1:") {
                let digits = log[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
            guard process.isRunning else { throw TestServerError.exited(log) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("no listening line in the log")
    }

    /// Up to 30 s: the suite runs many servers at once on two cores, and on a slow host a
    /// server's workers took more than 10 s to be ready.
    func waitUntilReady() async throws {
        for _ in 0..<1_500 {
            if let (status, _) = try? await self.get("/readyz"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("not ready")
    }

    var url: String { "ws://127.0.0.1:\(self.port)/api/audio/ws" }

    func get(_ path: String) async throws -> (Int, String) {
        let url = URL(string: "http://127.0.0.1:\(self.port)\(path)")!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Pids of the server's live children (its audio-workers). Children may have been started
    /// by any thread of the server; killed ones not yet reaped (zombies) are left out.
    func workerPIDs() -> [pid_t] {
        let server = self.process.processIdentifier
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server)/task")) ?? []
        var pids: [pid_t] = []
        for task in tasks {
            let children = (try? String(contentsOfFile: "/proc/\(server)/task/\(task)/children", encoding: .utf8)) ?? ""
            pids += children.split(separator: " ").compactMap { pid_t($0) }
        }
        return pids.filter { pid in
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return false }
            return !stat[stat.index(after: close)...].hasPrefix(" Z")
        }.sorted()
    }

    func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            guard ContinuousClock.now < deadline else { throw TestServerError.timeout("server did not exit") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return self.process.terminationStatus
    }

    var log: String { (try? String(contentsOf: self.logFile, encoding: .utf8)) ?? "" }

    /// Stops the server (SIGTERM, then SIGKILL) and removes its data directory unless asked not to.
    func stop(keepingData: Bool = false) async {
        if self.process.isRunning {
            self.signal(SIGTERM)
            if (try? await self.waitForExit(timeout: .seconds(15))) == nil {
                for pid in self.workerPIDs() { kill(pid, SIGKILL) }
                self.signal(SIGKILL)
            }
        }
        if !keepingData {
            try? FileManager.default.removeItem(at: self.dataDir)
        }
    }

    /// One HTTP request; the body of the answer and its headers (names lowercased).
    func request(
        _ method: String,
        _ path: String,
        body: Data? = nil,
        headers: [String: String] = [:]
    ) async throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(self.port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            fields[String(describing: name).lowercased()] = String(describing: value)
        }
        return HTTPAnswer(status: http.statusCode, headers: fields, body: data)
    }
}

struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any] ?? [:] }
    var errorCode: String? { (self.json["error"] as? [String: Any])?["code"] as? String }
}

enum TestServerError: Error {
    case exited(String)
    case timeout(String)
}

/// Runs `body` with a started server and always stops it.
func withServer<T>(
    workers: Int = 1,
    arguments: [String] = [],
    waitForReady: Bool = true,
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let server = try await TestServer.start(workers: workers, arguments: arguments, waitForReady: waitForReady)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        print("server log:\n\(server.log)")
        await server.stop()
        throw error
    }
}

/// Runs a program to completion and returns its exit status and output. Waits by polling:
/// blocking calls would starve the test runner's small thread pool.
func runProcess(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> (Int32, String) {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-run-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            throw TestServerError.timeout("\(executable) did not finish")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    try? handle.close()
    return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
}
