import Foundation
import Protocol
import Testing

/// Deleting calls, retention, and safe retries with `Idempotency-Key`.
@Suite struct CallLifecycleTests {
    static func callCount(_ server: TestServer) async throws -> Int {
        try #require(try await server.request("GET", "/calls").json["total"] as? Int)
    }

    @Test func aDeletedCallLeavesNoRowTranscriptOrFile() async throws {
        try await withServer { server in
            let call = try await CallAPITests.createCall(server)
            let other = try await CallAPITests.createCall(server)
            #expect(
                try await CallAPITests.upload(server, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202
            )
            _ = try await CallAPITests.settled(server, call: call)
            #expect(try await server.request("GET", "/calls/\(call)/transcript").status == 200)
            #expect(CallAPITests.storedFiles(server).count == 1)

            let deleted = try await server.request("DELETE", "/calls/\(call)")
            #expect(deleted.status == 204)
            #expect(deleted.body.isEmpty)
            #expect(try await server.request("GET", "/calls/\(call)").status == 404)
            #expect(try await server.request("GET", "/calls/\(call)/transcript").errorCode == "call_not_found")
            #expect(try await server.request("GET", "/calls/\(call)/download").status == 404)
            #expect(CallAPITests.storedFiles(server).isEmpty, "the file is gone")
            #expect(try await server.request("DELETE", "/calls/\(call)").errorCode == "call_not_found")
            #expect(try await server.request("DELETE", "/calls/not-a-uuid").status == 404)
            // Nothing else was touched.
            #expect(try await server.request("GET", "/calls/\(other)").status == 200)
            #expect(try await Self.callCount(server) == 1)
        }
    }

    @Test func aLiveSessionsCallCannotBeDeletedUntilItEnds() async throws {
        try await withServer(arguments: ["--resume-window", "0"]) { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(["type": "start", "codec": "pcm_s16le", "sample_rate": 8000, "channels": 1]))
            let call = try #require(started.callID)
            try await socket.sendChunk([UInt8](repeating: 0, count: 1600))
            let refused = try await server.request("DELETE", "/calls/\(call)")
            #expect(refused.status == 409)
            #expect(refused.errorCode == "call_live")
            var session = SessionTranscript()
            _ = try await socket.control(["type": "stop"])
            try await socket.collect(into: &session)
            await socket.close()
            _ = try await CallAPITests.settled(server, call: call)
            #expect(try await server.request("DELETE", "/calls/\(call)").status == 204)
            #expect(CallAPITests.storedFiles(server).isEmpty)
        }
    }

    /// A crash between the transaction and the file's removal leaves the path queued; the next
    /// start removes the file. (The queue entry is made by hand here, as the crash would leave it.)
    @Test func aDeletionCutShortByACrashIsFinishedAtTheNextStart() async throws {
        let first = try await TestServer.start()
        let call = try await CallAPITests.createCall(first)
        #expect(try await CallAPITests.upload(first, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202)
        _ = try await CallAPITests.settled(first, call: call)
        await first.stop(keepingData: true)
        let database = first.dataDir.appendingPathComponent("callstream.sqlite").path
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("PRAGMA foreign_keys = ON")
            path = db.execute("SELECT stored_path FROM recordings").fetchone()[0]
            db.execute("INSERT INTO file_deletions (stored_path, queued_at) VALUES (?, 0)", (path,))
            db.execute("DELETE FROM calls")
            db.commit()
            """
        let (status, output) = try await runProcess("/usr/bin/env", ["python3", "-c", script, database])
        #expect(status == 0, "\(output)")
        #expect(CallAPITests.storedFiles(first).count == 1, "the orphan is on disk before the restart")

        let second = try await TestServer.start(dataDir: first.dataDir)
        for _ in 0..<250 where !CallAPITests.storedFiles(second).isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(CallAPITests.storedFiles(second).isEmpty)
        #expect(second.log.contains("removed recording files of calls deleted before a restart"))
        await second.stop()
    }

    @Test func retentionDeletesOnlyCallsPastItsAge() async throws {
        let first = try await TestServer.start()
        let old = try await CallAPITests.createCall(first, startedAt: "2020-01-01T00:00:00Z")
        #expect(try await CallAPITests.upload(first, call: old, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav")).status == 202)
        _ = try await CallAPITests.settled(first, call: old)
        let recent = try await CallAPITests.createCall(first, startedAt: ISO8601DateFormatter().string(from: Date()))
        await first.stop(keepingData: true)

        let server = try await TestServer.start(arguments: ["--retention-days", "30", "--retention-interval", "0.2"], dataDir: first.dataDir)
        defer { Task { await server.stop() } }
        for _ in 0..<250 {
            if try await server.request("GET", "/calls/\(old)").status == 404, CallAPITests.storedFiles(server).isEmpty { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await server.request("GET", "/calls/\(old)").status == 404)
        #expect(CallAPITests.storedFiles(server).isEmpty)
        #expect(try await server.request("GET", "/calls/\(recent)").status == 200)
        let metrics = try await MetricsTests.scrape(server)
        #expect(metrics["callstream_retention_deleted_calls_total"] == 1)
        #expect(server.log.contains("retention deleted old calls"))
        await server.stop()
    }

    @Test func aRetriedCreateReturnsTheFirstAnswerAndStoresOneCall() async throws {
        try await withServer { server in
            let body = CallAPITests.json(["caller": "+15550100", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"])
            let headers = ["Content-Type": "application/json", "Idempotency-Key": "create-1"]
            let first = try await server.request("POST", "/calls", body: body, headers: headers)
            let second = try await server.request("POST", "/calls", body: body, headers: headers)
            #expect(first.status == 201)
            #expect(second.status == 201)
            #expect(second.body == first.body)
            #expect(try await Self.callCount(server) == 1)

            let other = CallAPITests.json(["caller": "+15550999", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"])
            let reused = try await server.request("POST", "/calls", body: other, headers: headers)
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            // A refusal is an answer too: the same bad request with its key gets it again.
            let bad = CallAPITests.json(["caller": "x", "receiver": "+15550200", "started_at": "2026-11-23T09:30:00Z"])
            let badHeaders = ["Content-Type": "application/json", "Idempotency-Key": "create-2"]
            #expect(try await server.request("POST", "/calls", body: bad, headers: badHeaders).errorCode == "invalid_phone")
            #expect(try await server.request("POST", "/calls", body: bad, headers: badHeaders).errorCode == "invalid_phone")
            #expect(
                try await server.request("POST", "/calls", body: body, headers: ["Idempotency-Key": "has space"]).errorCode
                    == "invalid_idempotency_key"
            )
            #expect(try await Self.callCount(server) == 1)
        }
    }

    @Test func aRetriedUploadIsStoredOnceAndTheKeySurvivesARestart() async throws {
        let first = try await TestServer.start()
        let call = try await CallAPITests.createCall(first)
        let content = try CallAPITests.audio("call30_8k.wav")
        func upload(_ server: TestServer, _ content: Data, key: String) async throws -> HTTPAnswer {
            let (body, type) = CallAPITests.multipart(filename: "a.wav", content: content)
            return try await server.request("POST", "/calls/\(call)/recording", body: body, headers: ["Content-Type": type, "Idempotency-Key": key])
        }
        let original = try await upload(first, content, key: "up-1")
        #expect(original.status == 202)
        let retried = try await upload(first, content, key: "up-1")
        #expect(retried.status == 202)
        #expect(retried.body == original.body)
        #expect(CallAPITests.storedFiles(first).count == 1, "the retry stored nothing")
        let different = try await upload(first, content.prefix(100_044), key: "up-1")
        #expect(different.errorCode == "idempotency_key_reused")
        // Without the key the same upload is a second recording: refused.
        #expect(try await CallAPITests.upload(first, call: call, filename: "a.wav", content: content).errorCode == "recording_already_exists")
        await first.stop(keepingData: true)

        let second = try await TestServer.start(dataDir: first.dataDir)
        let afterRestart = try await upload(second, content, key: "up-1")
        #expect(afterRestart.status == 202)
        #expect(afterRestart.body == original.body)
        #expect(CallAPITests.storedFiles(second).count == 1)
        await second.stop()
    }
}

/// `--max-recording-minutes`.
@Suite struct RecordingLimitTests {
    @Test func anUploadOverTheLimitIsRefusedWhatEverItsFormat() async throws {
        // 0.25 minutes = 15 s; the test files are 30 s long.
        try await withServer(arguments: ["--max-recording-minutes", "0.25"]) { server in
            for name in ["call30_8k.wav", "call30.mp3"] {
                let call = try await CallAPITests.createCall(server)
                let refused = try await CallAPITests.upload(server, call: call, filename: name, content: try CallAPITests.audio(name))
                #expect(refused.status == 413, "\(name)")
                #expect(refused.errorCode == "recording_too_long", "\(name)")
                #expect(try await server.request("GET", "/calls/\(call)").json["recording"] is NSNull)
            }
            #expect(CallAPITests.storedFiles(server).isEmpty)
            // 10 s of the same file is within the limit.
            var wav = [UInt8](try CallAPITests.audio("call30_8k.wav").prefix(44 + 10 * 16000))
            wav.replaceSubrange(40..<44, with: withUnsafeBytes(of: UInt32(10 * 16000).littleEndian, Array.init))
            let call = try await CallAPITests.createCall(server)
            #expect(try await CallAPITests.upload(server, call: call, filename: "short.wav", content: Data(wav)).status == 202)
        }
    }

    @Test func aSessionIsStoppedAtTheLimitAndKeepsExactlyThatMuch() async throws {
        // 0.05 minutes = 3 s of the 30 s file, streamed as 100 ms chunks.
        try await withServer(arguments: ["--max-recording-minutes", "0.05"]) { server in
            let pcm = try TestPCM.load("call30_8k.wav")
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            // The server closes after `stopped`, maybe while chunks are still being sent.
            for chunk in pcm.pcmChunks(ms: 100) {
                do { try await socket.sendChunk(chunk) } catch { break }
            }
            try? await socket.sendText(#"{"type":"stop"}"#)
            var session = SessionTranscript()
            try await socket.collect(into: &session)
            let close = try await socket.waitForClose()
            let call = try #require(started.callID)
            let stopped = try #require(session.stopped)
            #expect(stopped.durationSec == 3.0)
            #expect(close == .normalClosure)
            #expect(session.errors.contains { $0.error?.code == "recording_too_long" && $0.seq == nil }, "the limit is announced")
            // Every acked chunk got exactly one answer, and nothing past the limit was acked after it.
            let answered = session.transcripts.compactMap(\.seq) + session.errors.compactMap(\.seq)
            #expect(answered.sorted() == session.acks)
            #expect(stopped.chunks == session.acks.count)
            #expect(session.acks.count < 300)

            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 3.0)
            let download = try await LiveSessionTests.download(server, call: call)
            #expect(download.samples == Array(pcm.samples.prefix(3 * 8000)))
        }
    }
}
