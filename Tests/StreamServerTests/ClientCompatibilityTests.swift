import Foundation
import Testing

/// Standard clients and our own tools against a real server.
@Suite struct ClientCompatibilityTests {
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theReadmePythonExampleStreamsAndGetsTranscripts() async throws {
        try await withServer { server in
            let script = Self.repositoryRoot.appendingPathComponent("examples/client.py").path
            let (status, output) = try await runProcess("/usr/bin/env", ["python3", script, server.url])
            #expect(status == 0, "\(output)")
            #expect(output.contains("transcript 3: mock transcription for client"))
            #expect(output.contains("ack 1: 3200 bytes"))
        }
    }

    /// One loop (no hand-overs), and three loops with two workers (some streams' workers
    /// live on another loop, so chunks and results cross threads).
    @Test(arguments: [(1, 1), (3, 2)])
    func loadClientPassesAgainstAHealthyServer(eventLoops: Int, workers: Int) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-latency-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        try await withServer(workers: workers, arguments: ["--event-loops", String(eventLoops)]) { server in
            let (status, output) = try await runProcess(
                Binaries.path("load-client"),
                ["--url", server.url, "--clients", "30", "--messages", "50", "--rate-ms", "0", "--in-flight", "8", "--json", "--latency-log", log]
            )
            #expect(status == 0, "\(output)")
            let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            #expect(report["transcripts"] as? Int == 1500)
            #expect(report["ok"] as? Bool == true)
        }
        // `--latency-log`: a line for every ack and every transcript, each sent before it was
        // answered and answered within the run.
        let rows = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: " ").compactMap { UInt64($0) }
        }
        #expect(rows.allSatisfy { $0.count == 3 && $0[0] > 0 && $0[2] < 60_000_000 })
        #expect(rows.filter { $0[1] == 0 }.count == 1500)
        #expect(rows.filter { $0[1] == 1 }.count == 1500)
    }

    /// `load-client --wav` streams started sessions in every codec at real-time pace, drops each
    /// connection every 1.5 s and resumes it, checks every ack, transcript span and the
    /// `stopped` counts, and the calls it reports are recorded with the file's 6 s.
    @Test(arguments: ["pcm_s16le", "mulaw", "alaw", "opus"])
    func loadClientStreamsAWAVAsResumedSessions(codec: String) async throws {
        // The first 6 s of call30_8k.wav (canonical 44-byte header, 16,000 bytes a second).
        var wav = [UInt8](try CallAPITests.audio("call30_8k.wav").prefix(44 + 6 * 16000))
        let dataBytes = UInt32(6 * 16000)
        wav.replaceSubrange(4..<8, with: withUnsafeBytes(of: (dataBytes + 36).littleEndian, Array.init))
        wav.replaceSubrange(40..<44, with: withUnsafeBytes(of: dataBytes.littleEndian, Array.init))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-6s-\(UUID().uuidString).wav").path
        try Data(wav).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withServer(workers: 2) { server in
            let (status, output) = try await runProcess(
                Binaries.path("load-client"),
                [
                    "--url", server.url, "--wav", path, "--codec", codec, "--chunk-ms", "20", "--clients", "4", "--stop", "--drop-after-s", "1.5",
                    "--json",
                ]
            )
            #expect(status == 0, "\(output)")
            let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            #expect(report["transcripts"] as? Int == 4 * 300)
            #expect((report["resumes"] as? Int ?? 0) >= 4)
            // Every session started before any streamed; each start's answer timed.
            #expect((report["start_to_started"] as? [String: Any])?["count"] as? Int == 4)
            let calls = report["call_ids"] as? [String] ?? []
            #expect(calls.count == 4)
            for call in calls {
                let settled = try await CallAPITests.settled(server, call: call)
                #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 6)
            }
        }
    }

    /// A start the server refuses (4 kHz is below the protocol's 8 kHz) fails the session at
    /// once, with the server's error code, instead of waiting for audio that never goes out.
    @Test func loadClientFailsOnARefusedStart() async throws {
        var wav = [UInt8](try CallAPITests.audio("call30_8k.wav").prefix(44 + 16000))
        wav.replaceSubrange(4..<8, with: withUnsafeBytes(of: UInt32(16000 + 36).littleEndian, Array.init))
        wav.replaceSubrange(24..<28, with: withUnsafeBytes(of: UInt32(4000).littleEndian, Array.init))
        wav.replaceSubrange(28..<32, with: withUnsafeBytes(of: UInt32(8000).littleEndian, Array.init))
        wav.replaceSubrange(40..<44, with: withUnsafeBytes(of: UInt32(16000).littleEndian, Array.init))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-4k-\(UUID().uuidString).wav").path
        try Data(wav).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withServer { server in
            let (status, output) = try await runProcess(
                Binaries.path("load-client"),
                ["--url", server.url, "--wav", path, "--clients", "2", "--stop", "--timeout-s", "30", "--json"]
            )
            #expect(status != 0)
            let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            #expect(report["connections_failed"] as? Int == 2)
            #expect(report["chunks_sent"] as? Int == 0)
            #expect((report["errors"] as? [String] ?? []).contains { $0.contains("start refused") })
        }
    }

    @Test func loadClientFailsWhenTranscriptsGoMissing() async throws {
        try await withServer { server in
            // A stopped worker answers nothing: the load client must notice and fail.
            for pid in server.workerPIDs() { kill(pid, SIGSTOP) }
            let (status, output) = try await runProcess(
                Binaries.path("load-client"),
                ["--url", server.url, "--clients", "3", "--messages", "5", "--rate-ms", "1", "--timeout-s", "1", "--json"]
            )
            for pid in server.workerPIDs() { kill(pid, SIGCONT) }
            #expect(status != 0)
            let report = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
            #expect(report["missing_transcripts"] as? Int == 15)
            #expect(report["acks"] as? Int == 15)
            #expect(report["ok"] as? Bool == false)
        }
    }

    @Test(arguments: ["stream-server", "audio-worker", "load-client"])
    func everyBinaryPrintsHelp(binary: String) async throws {
        let (status, output) = try await runProcess(Binaries.path(binary), ["--help"])
        #expect(status == 0)
        #expect(output.contains("USAGE"))
    }

    @Test func environmentVariablesConfigureTheServerAndFlagsWin() async throws {
        let fromEnvironment = try await TestServer.start(workers: nil, environment: ["CALLSTREAM_WORKERS": "3"])
        let (_, ready) = try await fromEnvironment.get("/readyz")
        await fromEnvironment.stop()
        #expect(ready.contains(#""expected":3"#))
        let flagWins = try await TestServer.start(workers: 1, environment: ["CALLSTREAM_WORKERS": "3"])
        let (_, readyWithFlag) = try await flagWins.get("/readyz")
        await flagWins.stop()
        #expect(readyWithFlag.contains(#""expected":1"#))
    }

    @Test(arguments: ["0", "-1", "many"])
    func badEventLoopCountsAreRejected(value: String) async throws {
        let (status, output) = try await runProcess(Binaries.path("stream-server"), ["--event-loops", value])
        #expect(status != 0)
        #expect(output.contains("event-loops"))
    }
}
