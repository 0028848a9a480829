import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// CI-sized versions of `scripts/chaos.sh` (whose figures are in docs/benchmarks.md).
@Suite struct ChaosTests {
    /// 200 streams through two workers while a random worker is killed every half second:
    /// load-client sees every acked chunk answered once (a transcript, or an error naming its
    /// seq), in order.
    @Test func killingWorkersUnderLoadLosesNothing() async throws {
        try await withServer(workers: 2) { server in
            let client = Task {
                try await runProcess(
                    Binaries.path("load-client"),
                    ["--url", server.url, "--clients", "200", "--messages", "40", "--rate-ms", "50", "--timeout-s", "60", "--json"]
                )
            }
            var kills = 0
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(500))
                if let pid = server.workerPIDs().randomElement() {
                    kill(pid, SIGKILL)
                    kills += 1
                }
            }
            let (_, output) = try await client.value
            #expect(kills >= 4)
            // Not the exit status: an error naming its seq is a valid answer (a chunk that was
            // at the head of the queue alone when two kills came), and load-client counts it
            // as a server error. Nothing may be missing, duplicated or out of order.
            let line = try #require(output.split(separator: "\n").last)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for field in ["missing_acks", "missing_transcripts", "duplicates", "out_of_order", "connections_failed", "malformed", "unexpected"] {
                #expect(report[field] as? Int == 0, "\(field): \(output)")
            }
            #expect(report["acks"] as? Int == 200 * 40)
        }
    }

    /// kill -9 of the server while uploads are half sent and one has just landed: after a
    /// restart the landed one is intact and analysed, the cut ones left no row, no file in
    /// tmp/ or recordings/, and the database passes its integrity check.
    @Test func killingTheServerMidUploadLeavesNothingPartial() async throws {
        let first = try await TestServer.start()
        let landed = try await CallAPITests.createCall(first)
        let content = try CallAPITests.audio("call30_8k.wav")
        #expect(try await CallAPITests.upload(first, call: landed, filename: "a.wav", content: content).status == 202)
        var cut: [String] = []
        var sockets: [Int32] = []
        for fraction in [0.2, 0.6, 0.95] {
            let call = try await CallAPITests.createCall(first)
            cut.append(call)
            sockets.append(try CallAPITests.startUpload(first, call: call, fraction: fraction))
        }
        try await Task.sleep(for: .milliseconds(300))
        let workers = first.workerPIDs()
        first.signal(SIGKILL)
        for pid in workers { kill(pid, SIGKILL) }
        _ = try await first.waitForExit()
        for fd in sockets { close(fd) }

        let second = try await TestServer.start(dataDir: first.dataDir)
        let settled = try await CallAPITests.settled(second, call: landed)
        #expect(settled["status"] as? String == "ready")
        for call in cut {
            let answer = try await second.request("GET", "/calls/\(call)")
            #expect(answer.json["recording"] is NSNull, "a cut upload left no recording")
        }
        let tmp = try FileManager.default.contentsOfDirectory(atPath: second.dataDir.appendingPathComponent("tmp").path)
        #expect(tmp.isEmpty, "no partial file: \(tmp)")
        let recordings = try FileManager.default.contentsOfDirectory(atPath: second.dataDir.appendingPathComponent("recordings").path)
        #expect(recordings.count == 1, "only the landed upload's file: \(recordings)")
        await second.stop(keepingData: true)
        let database = second.dataDir.appendingPathComponent("callstream.sqlite").path
        let (status, integrity) = try await runProcess(
            "/usr/bin/python3",
            ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", database]
        )
        #expect(status == 0 && integrity.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(integrity)")
        try? FileManager.default.removeItem(at: second.dataDir)
    }
}
