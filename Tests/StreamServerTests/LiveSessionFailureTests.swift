import Foundation
import NIOWebSocket
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Started sessions when things go wrong: bad requests, bad audio, dropped connections,
/// killed workers and a killed server.
@Suite struct LiveSessionFailureTests {
    static var pcm16k: [String: Any] { ["type": "start", "codec": "pcm_s16le", "sample_rate": 16000, "channels": 1] }

    /// Each bad start gets its error code and changes nothing: the same connection can still
    /// start a session afterwards. A second start, a start after audio, and stop or resume at
    /// the wrong time are refused too.
    @Test func badStartsAreRefusedAndTheConnectionStaysUsable() async throws {
        try await withServer { server in
            let recorded = try await CallAPITests.createCall(server)
            _ = try await CallAPITests.upload(server, call: recorded, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav"))
            let cases: [([String: Any], String)] = [
                (["codec": "flac"], "invalid_codec"),
                (["sample_rate": 7999], "invalid_sample_rate"),
                (["sample_rate": 16000.5], "invalid_sample_rate"),
                (["codec": "opus", "sample_rate": 44100], "invalid_sample_rate"),
                (["channels": 3], "invalid_channels"),
                (["caller": "not a number"], "invalid_phone"),
                (["receiver": 5550100], "invalid_phone"),
                (["started_at": "yesterday"], "invalid_date"),
                (["private": "yes"], "invalid_private"),
                (["record": "no"], "invalid_record"),
                (["external_id": ""], "invalid_external_id"),
                (["external_id": ["CA1"]], "invalid_external_id"),
                (["call_id": UUID().uuidString], "call_not_found"),
                (["call_id": "nope"], "call_not_found"),
                (["call_id": recorded], "recording_already_exists"),
            ]
            var socket = try await TestWebSocket.connect(port: server.port)
            for (change, code) in cases {
                let answer = try await socket.control(Self.pcm16k.merging(change) { $1 })
                #expect(answer?.kind == .error && answer?.error?.code == code, "\(change) → \(String(describing: answer))")
            }
            #expect(try await socket.control(["type": "stop"])?.error?.code == "not_started")
            let started = try await socket.control(Self.pcm16k.merging(["record": false]) { $1 })
            #expect(started?.kind == .started && started?.callID == nil)
            #expect(try await socket.control(Self.pcm16k)?.error?.code == "already_started")
            #expect(try await socket.control(["type": "resume", "resume_token": "x", "last_seq": 0])?.error?.code == "resume_failed")
            #expect(try await socket.control(["type": "ping"])?.kind == .pong)
            await socket.close()

            var plain = try await TestWebSocket.connect(port: server.port)
            try await plain.sendBinary(count: 320)
            #expect(try await plain.control(Self.pcm16k)?.error?.code == "start_after_audio")
            await plain.close()
            // Only the uploaded call exists: no bad start made a call.
            let list = try await server.request("GET", "/calls")
            #expect(list.json["total"] as? Int == 1)
        }
    }

    /// A PCM chunk that is not whole frames and a corrupt Opus packet each get an error naming
    /// their seq, in order with the transcripts; the stream goes on and `stopped` counts them.
    @Test func badChunksGetAnErrorAndTheStreamGoesOn() async throws {
        try await withServer { server in
            for (codec, bad) in [("pcm_s16le", [UInt8](repeating: 1, count: 641)), ("opus", [UInt8](repeating: 0xFF, count: 7))] {
                let pcm = try TestPCM.load("call30.wav")
                var good = codec == "opus" ? try pcm.opusPackets(ms: 20) : pcm.pcmChunks(ms: 20)
                good = Array(good.prefix(10))
                var socket = try await TestWebSocket.connect(port: server.port)
                let started = try #require(try await socket.control(Self.pcm16k.merging(["codec": codec]) { $1 }))
                for chunk in good.prefix(5) { try await socket.sendChunk(chunk) }
                try await socket.sendChunk(bad)
                for chunk in good.suffix(5) { try await socket.sendChunk(chunk) }
                try await socket.sendText(#"{"type":"stop"}"#)
                var session = SessionTranscript()
                try await socket.collect(into: &session)
                #expect(session.errors.map(\.seq) == [6], "\(codec): \(session.errors)")
                #expect(session.errors.first?.error?.code == (codec == "opus" ? "invalid_audio" : "invalid_chunk"))
                #expect(session.transcripts.map(\.seq) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11].map(Optional.some))
                // The bad chunk holds no audio: the next one starts where the last good one ended.
                #expect(session.transcripts[5].startMs == 100)
                #expect(session.stopped?.chunks == 11 && session.stopped?.errors == 1 && session.stopped?.durationSec == 0.2)
                let settled = try await CallAPITests.settled(server, call: try #require(started.callID))
                #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 0.2)
            }
        }
    }

    /// With `--resume-window 0` a connection that closes without `stop` ends its session at
    /// once: the call is finalised with the audio that arrived.
    @Test func aDisconnectWithoutStopFinalisesTheCall() async throws {
        try await withServer(arguments: ["--resume-window", "0"]) { server in
            let pcm = try TestPCM.load("call30.wav")
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(Self.pcm16k))
            let chunks = pcm.pcmChunks(ms: 100).prefix(50)
            for chunk in chunks { try await socket.sendChunk(chunk) }
            var session = SessionTranscript()
            try await socket.collect(into: &session, untilSeq: 50)
            await socket.close()
            let settled = try await CallAPITests.settled(server, call: try #require(started.callID))
            #expect(settled["status"] as? String == "ready")
            #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 5)
            let downloaded = try await LiveSessionTests.download(server, call: try #require(started.callID))
            #expect(downloaded.data == Array(pcm.data.prefix(50 * 3200)))
        }
    }

    /// A session dropped twice mid-stream (once by a close without stop, once by a socket
    /// closed without a close frame) and resumed each time: every chunk acked once overall,
    /// every transcript exactly once, `client_id` and seq the session's own, and the
    /// recording one continuous file of exactly the samples sent.
    @Test func aSessionResumedTwiceLosesAndRepeatsNothing() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(Self.pcm16k))
            let token = try #require(started.resumeToken)
            var transcripts: [UInt64] = []
            var next = 0
            for (round, cut) in [100, 200, chunks.count].enumerated() {
                while next < cut {
                    try await socket.sendChunk(chunks[next])
                    next += 1
                }
                // Read part of the answers, then drop the connection with the rest in flight.
                var session = SessionTranscript()
                if round < 2 {
                    try await socket.collect(into: &session, untilSeq: UInt64(cut - 30))
                    transcripts += session.transcripts.compactMap(\.seq)
                    if round == 0 {
                        await socket.close()
                    } else {
                        try await socket.channel.close()
                    }
                    socket = try await TestWebSocket.connect(port: server.port)
                    // The server may not have seen the old socket close yet: it says
                    // `session_attached` until it has, and the client tries again.
                    var resumed = try #require(
                        try await socket.control(["type": "resume", "resume_token": token, "last_seq": transcripts.last ?? 0])
                    )
                    for _ in 0..<100 where resumed.error?.code == "session_attached" {
                        try await Task.sleep(for: .milliseconds(20))
                        resumed = try #require(
                            try await socket.control(["type": "resume", "resume_token": token, "last_seq": transcripts.last ?? 0])
                        )
                    }
                    #expect(resumed.kind == .resumed, "\(resumed)")
                    #expect(resumed.clientID == started.clientID && resumed.callID == started.callID)
                    next = Int(try #require(resumed.nextSeq)) - 1
                } else {
                    try await socket.sendText(#"{"type":"stop"}"#)
                    try await socket.collect(into: &session)
                    transcripts += session.transcripts.compactMap(\.seq)
                    #expect(session.stopped?.chunks == chunks.count)
                    #expect(session.transcripts.allSatisfy { $0.clientID == started.clientID })
                }
            }
            #expect(transcripts == Array(1...UInt64(chunks.count)))
            let call = try #require(started.callID)
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            let downloaded = try await LiveSessionTests.download(server, call: call)
            #expect(downloaded.data == pcm.data)
        }
    }

    /// A wrong token gets `resume_failed` and leaves the connection usable; a session carried
    /// by a live connection cannot be taken over; after the window runs out the token is dead
    /// and the call is finalised.
    @Test func resumeRefusalsAndTheWindowRunningOut() async throws {
        try await withServer(arguments: ["--resume-window", "1"]) { server in
            var owner = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await owner.control(Self.pcm16k))
            let token = try #require(started.resumeToken)
            try await owner.sendChunk([UInt8](repeating: 0, count: 3200))

            var other = try await TestWebSocket.connect(port: server.port)
            #expect(try await other.control(["type": "resume", "resume_token": token + "x", "last_seq": 0])?.error?.code == "resume_failed")
            #expect(try await other.control(["type": "resume", "resume_token": token, "last_seq": 0])?.error?.code == "session_attached")
            #expect(try await other.control(["type": "ping"])?.kind == .pong)

            await owner.close()
            try await Task.sleep(for: .milliseconds(1500))
            #expect(try await other.control(["type": "resume", "resume_token": token, "last_seq": 0])?.error?.code == "resume_failed")
            let settled = try await CallAPITests.settled(server, call: try #require(started.callID))
            #expect(settled["status"] as? String == "ready")
            #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 0.1)
            #expect(!server.log.contains(token))
            await other.close()
        }
    }

    /// A client that lost `stopped` (and some transcripts) with its connection resumes within
    /// the window and gets them again; the session is over, so the connection then closes 1000.
    @Test func aStoppedSessionResendsWhatALostConnectionMissed() async throws {
        try await withServer { server in
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(Self.pcm16k))
            for _ in 0..<10 { try await socket.sendChunk([UInt8](repeating: 0, count: 3200)) }
            try await socket.sendText(#"{"type":"stop"}"#)
            var first = SessionTranscript()
            try await socket.collect(into: &first)
            #expect(first.stopped?.chunks == 10)
            try? await socket.channel.close()

            let token = try #require(started.resumeToken)
            var again = try await TestWebSocket.connect(port: server.port)
            let resumed = try #require(try await again.control(["type": "resume", "resume_token": token, "last_seq": 6]))
            #expect(resumed.kind == .resumed && resumed.nextSeq == 11)
            var rest = SessionTranscript()
            try await again.collect(into: &rest)
            #expect(rest.transcripts.map(\.seq) == [7, 8, 9, 10])
            #expect(rest.stopped?.chunks == 10 && rest.stopped?.callID == started.callID)
            #expect(try await again.waitForClose() == .normalClosure)
        }
    }

    /// Killing the session's worker mid-stream: the replacement is replayed what was in flight,
    /// and the recording has every sample, without a gap or a repeat.
    @Test func aWorkerKilledMidSessionLeavesTheRecordingWhole() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(Self.pcm16k))
            for chunk in chunks.prefix(150) { try await socket.sendChunk(chunk) }
            for pid in server.workerPIDs() { kill(pid, SIGKILL) }
            for chunk in chunks.dropFirst(150) { try await socket.sendChunk(chunk) }
            try await socket.sendText(#"{"type":"stop"}"#)
            var session = SessionTranscript()
            try await socket.collect(into: &session)
            #expect(session.errors.isEmpty, "\(session.errors)")
            #expect(session.stopped?.chunks == chunks.count, "\(String(describing: session.stopped))")
            #expect(session.transcripts.map(\.seq) == Array(1...UInt64(chunks.count)).map(Optional.some))
            let call = try #require(started.callID)
            _ = try await CallAPITests.settled(server, call: call)
            let downloaded = try await LiveSessionTests.download(server, call: call)
            #expect(downloaded.data == pcm.data)
        }
    }

    /// `kill -9` of the server mid-session, then a restart on the same data dir: the session's
    /// recording is finalised from what reached the disk (at least what was flushed a second
    /// before the kill) and analysed; the call is `ready`.
    @Test func aServerKilledMidSessionFinalisesTheCallAtRestart() async throws {
        let server = try await TestServer.start()
        let pcm = try TestPCM.load("call30.wav")
        var socket = try await TestWebSocket.connect(port: server.port)
        let started = try #require(try await socket.control(Self.pcm16k))
        let call = try #require(started.callID)
        for chunk in pcm.pcmChunks(ms: 100).prefix(100) { try await socket.sendChunk(chunk) }
        var session = SessionTranscript()
        try await socket.collect(into: &session, untilSeq: 100)
        // A batch is written once 1 s old, by a sweep every 250 ms: 1.25 s at most.
        try await Task.sleep(for: .milliseconds(2000))
        for pid in server.workerPIDs() { kill(pid, SIGKILL) }
        server.signal(SIGKILL)
        _ = try await server.waitForExit()
        try? await socket.channel.close()

        let restarted = try await TestServer.start(dataDir: server.dataDir)
        do {
            let settled = try await CallAPITests.settled(restarted, call: call)
            #expect(settled["status"] as? String == "ready", "\(settled)")
            #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 10)
            let downloaded = try await LiveSessionTests.download(restarted, call: call)
            #expect(downloaded.data == Array(pcm.data.prefix(100 * 3200)))
            #expect(restarted.log.contains("finalised a live recording left unfinished"))
        } catch {
            print(restarted.log)
            throw error
        }
        await restarted.stop()
    }

    /// 20 sessions at once, each its own call, recording and transcript.
    @Test func twentyConcurrentSessionsEachBecomeTheirCall() async throws {
        try await withServer(workers: 2) { server in
            let pcm = try TestPCM.load("call30_8k.wav")
            let chunks = Array(pcm.pcmChunks(ms: 100).prefix(40))
            let calls = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let (started, session, close) = try await LiveSessionTests.stream(
                            server,
                            start: LiveSessionTests.start(codec: "pcm_s16le", pcm),
                            chunks: chunks
                        )
                        #expect(session.transcripts.map(\.seq) == Array(1...UInt64(chunks.count)).map(Optional.some))
                        #expect(session.transcripts.allSatisfy { $0.clientID == started.clientID })
                        #expect(close == .normalClosure)
                        return try #require(started.callID)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(calls).count == 20)
            for call in calls {
                let settled = try await CallAPITests.settled(server, call: call)
                #expect((settled["recording"] as? [String: Any])?["duration_sec"] as? Double == 4)
                let transcript = try await server.request("GET", "/calls/\(call)/transcript")
                #expect((transcript.json["segments"] as? [Any])?.count == 40)
            }
        }
    }

    /// A live recording is a spare file renamed: with 4 spares, 10 concurrent sessions (4 on
    /// spares, the rest on files created at their start) each record exactly their audio; the
    /// spares are made again, and a restart keeps them (the same files, not new ones).
    @Test func spareFilesBecomeRecordingsAndAreMadeAgain() async throws {
        let first = try await TestServer.start(workers: 2, arguments: ["--spare-recording-files", "4"])
        let spareDirectory = first.dataDir.appendingPathComponent("spare").path
        let recordingsDirectory = first.dataDir.appendingPathComponent("recordings").path
        #expect(Self.inodes(in: spareDirectory).count == 4)
        let spares = Set(Self.inodes(in: spareDirectory).values)

        let pcm = try TestPCM.load("call30_8k.wav")
        let chunks = Array(pcm.pcmChunks(ms: 100).prefix(10))
        let calls = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    let (started, _, close) = try await LiveSessionTests.stream(
                        first,
                        start: LiveSessionTests.start(codec: "pcm_s16le", pcm),
                        chunks: chunks
                    )
                    #expect(close == .normalClosure)
                    return try #require(started.callID)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for call in calls {
            #expect(try await CallAPITests.settled(first, call: call)["status"] as? String == "ready")
            #expect(try await LiveSessionTests.download(first, call: call).data == Array(chunks.joined()))
        }
        #expect(spares.isSubset(of: Set(Self.inodes(in: recordingsDirectory).values)))

        // Fewer than half were left: they are made again, up to 4.
        let deadline = ContinuousClock.now + .seconds(10)
        while Self.inodes(in: spareDirectory).count < 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let refilled = Self.inodes(in: spareDirectory)
        #expect(refilled.count == 4)
        #expect(spares.isDisjoint(with: refilled.values))
        await first.stop(keepingData: true)

        let second = try await TestServer.start(arguments: ["--spare-recording-files", "4"], dataDir: first.dataDir)
        #expect(Self.inodes(in: spareDirectory) == refilled)
        await second.stop()
    }

    /// File names in `directory`, with their inode numbers.
    static func inodes(in directory: String) -> [String: UInt64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var inodes: [String: UInt64] = [:]
        for name in names {
            var status = stat()
            if stat(directory + "/" + name, &status) == 0 { inodes[name] = UInt64(status.st_ino) }
        }
        return inodes
    }

    /// Transcripts: 404 before there is one; an upload's is its analysis's transcription.
    @Test func anUploadsTranscriptIsItsAnalysis() async throws {
        try await withServer { server in
            let call = try await CallAPITests.createCall(server)
            let before = try await server.request("GET", "/calls/\(call)/transcript")
            #expect(before.status == 404 && before.errorCode == "transcript_not_found")
            _ = try await CallAPITests.upload(server, call: call, filename: "a.wav", content: try CallAPITests.audio("call30_8k.wav"))
            _ = try await CallAPITests.settled(server, call: call)
            let after = try await server.request("GET", "/calls/\(call)/transcript")
            let segments = after.json["segments"] as? [[String: Any]] ?? []
            #expect(segments.count == 1 && segments.first?["start_ms"] as? Int == 0 && segments.first?["end_ms"] as? Int == 20000)
            #expect((segments.first?["text"] as? String)?.hasPrefix("mock transcription for recording") == true)
            let missing = try await server.request("GET", "/calls/\(UUID().uuidString)/transcript")
            #expect(missing.status == 404 && missing.errorCode == "call_not_found")
        }
    }
}
