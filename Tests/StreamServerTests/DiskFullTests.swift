import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A full data directory (a small tmpfs): uploads get 507 and leave nothing partial, a live
/// session is told and keeps what was written, and everything works again once space returns.
@Suite struct DiskFullTests {
    @Test func aFullDiskRefusesUploadsStopsSessionsAndRecovers() async throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("callstream-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let (mounted, output) = try await runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", dataDir.path])
        try #require(mounted == 0, "mounting a tmpfs needs root: \(output)")
        defer {
            _ = umount(dataDir.path)
            try? FileManager.default.removeItem(at: dataDir)
        }
        let server = try await TestServer.start(dataDir: dataDir)
        do {
            let pcm = try TestPCM.load("call30_8k.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            let call = try #require(started.callID)
            for chunk in chunks.prefix(20) { try await socket.sendChunk(chunk) }
            var session = SessionTranscript()
            try await socket.collect(into: &session, untilSeq: 20)
            try await Task.sleep(for: .milliseconds(1500))  // the first 2 s reach the file

            let uploadCall = try await CallAPITests.createCall(server)
            // Fill the disk.
            let filler = dataDir.appendingPathComponent("filler")
            let fd = open(filler.path, O_WRONLY | O_CREAT, 0o600)
            let block = [UInt8](repeating: 7, count: 64 << 10)
            while write(fd, block, block.count) > 0 {}
            close(fd)

            for chunk in chunks.dropFirst(20) {
                do { try await socket.sendChunk(chunk) } catch { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            try await socket.collect(into: &session)
            #expect(session.errors.contains { $0.error?.code == "storage_full" }, "the session is told")
            #expect(session.stopped != nil, "and stopped")
            let answered = session.transcripts.compactMap(\.seq) + session.errors.compactMap(\.seq)
            #expect(Set(answered) == Set(session.acks), "every acked chunk is answered")

            let refused = try await CallAPITests.upload(server, call: uploadCall, filename: "a.wav", content: try CallAPITests.audio("call30.wav"))
            #expect(refused.status == 507, "\(String(decoding: refused.body, as: UTF8.self))")
            let created = try await server.request(
                "POST",
                "/calls",
                body: CallAPITests.json(["caller": "+1555", "receiver": "+1666", "started_at": "2026-11-23T09:30:00Z"]),
                headers: ["Content-Type": "application/json"]
            )
            #expect(created.status == 507 || created.status == 201, "SQLite may still have a free page")
            #expect(refused.errorCode == "insufficient_storage")
            let partial = try FileManager.default.contentsOfDirectory(atPath: dataDir.appendingPathComponent("tmp").path)
            #expect(partial.isEmpty, "no partial upload left: \(partial)")

            // Space returns: the session's call is finished and analysed, uploads work again.
            try FileManager.default.removeItem(at: filler)
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            let seconds = (settled["recording"] as? [String: Any])?["duration_sec"] as? Double ?? 0
            #expect(seconds >= 2 && seconds <= 30, "what was written before the disk filled is kept: \(seconds) s")
            let accepted = try await CallAPITests.upload(
                server,
                call: uploadCall,
                filename: "b.wav",
                content: try CallAPITests.audio("call30_8k.wav")
            )
            #expect(accepted.status == 202)
        } catch {
            print("server log:\n\(server.log)")
            await server.stop(keepingData: true)
            throw error
        }
        await server.stop(keepingData: true)
    }
}
