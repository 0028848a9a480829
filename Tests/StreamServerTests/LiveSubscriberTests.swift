import Foundation
import NIOCore
import NIOWebSocket
import Testing

/// `GET /calls/{id}/live`: subscribers of a live call against the real server.
@Suite struct LiveSubscriberTests {
    /// Text messages until the server closes, and its close code.
    static func texts(_ socket: inout TestWebSocket) async throws -> ([String], WebSocketErrorCode?) {
        var texts: [String] = []
        while let frame = try await socket.nextFrame(timeout: .seconds(20)) {
            if frame.opcode == .text { texts.append(String(buffer: frame.unmaskedData)) }
            if frame.opcode == .connectionClose { break }
        }
        return (texts, socket.closeCode)
    }

    /// What a subscriber sees of a stream's messages: its transcripts, finals and `stopped`.
    static func subscriberView(_ texts: [String]) -> [String] {
        texts.filter { text in ["transcript", "final", "stopped"].contains { text.hasPrefix(#"{"type":"\#($0)""#) } }
    }

    static func subscribe(_ server: TestServer, call: String) async throws -> TestWebSocket {
        try await TestWebSocket.connect(port: server.port, path: "/calls/\(call)/live")
    }

    /// A subscriber from the start gets exactly the stream's transcripts and `stopped`, in order.
    @Test func anEarlySubscriberGetsTheCallsMessagesAsTheyCome() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            var stream = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            let call = try #require(started.callID)
            var subscriber = try await Self.subscribe(server, call: call)
            try await Task.sleep(for: .milliseconds(200))  // subscribed before the first chunk
            for chunk in pcm.pcmChunks(ms: 100) { try await stream.sendChunk(chunk) }
            try await stream.sendText(#"{"type":"stop"}"#)
            let (sent, _) = try await Self.texts(&stream)
            let (seen, close) = try await Self.texts(&subscriber)
            #expect(seen.count == 301)
            #expect(seen == Self.subscriberView(sent))
            #expect(seen.last?.hasPrefix(#"{"type":"stopped""#) == true)
            #expect(close == .normalClosure)
            // The spool is one file for every feed, unlinked as soon as it is open: the call
            // leaves nothing in `tmp/`.
            let tmp = server.dataDir.appendingPathComponent("tmp").path
            #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
        }
    }

    /// A subscriber that joins after a minute of audio (two of call30, some of it already in
    /// the spool file) gets every earlier message replayed, then the live ones: none missed,
    /// none twice.
    @Test func aLateSubscriberGetsEverythingSoFarThenLive() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            var stream = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            let call = try #require(started.callID)
            var sent: [String] = []
            for chunk in chunks + chunks { try await stream.sendChunk(chunk) }
            // Every answer so far has arrived, and the spool has been flushed at least once.
            while sent.filter({ $0.hasPrefix(#"{"type":"transcript""#) }).count < 2 * chunks.count {
                let frame = try #require(try await stream.nextFrame())
                if frame.opcode == .text { sent.append(String(buffer: frame.unmaskedData)) }
            }
            try await Task.sleep(for: .milliseconds(1_500))
            var subscriber = try await Self.subscribe(server, call: call)
            for chunk in chunks.prefix(50) { try await stream.sendChunk(chunk) }
            try await stream.sendText(#"{"type":"stop"}"#)
            sent += try await Self.texts(&stream).0
            let (seen, close) = try await Self.texts(&subscriber)
            #expect(seen.count == 2 * chunks.count + 50 + 1)
            #expect(seen == Self.subscriberView(sent))
            #expect(close == .normalClosure)
        }
    }

    /// Calls streaming at once share the spool (their pages interleave), and a call that
    /// starts after another has ended reuses its pages: late subscribers of each get exactly
    /// their own call's messages.
    @Test func lateSubscribersOfCallsSharingTheSpoolGetTheirOwnMessages() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            func streamAll(_ streams: inout [TestWebSocket]) async throws -> [[String]] {
                for chunk in chunks {
                    for stream in streams { try await stream.sendChunk(chunk) }
                }
                var texts: [[String]] = []
                for index in streams.indices {
                    var seen: [String] = []
                    while seen.filter({ $0.hasPrefix(#"{"type":"transcript""#) }).count < chunks.count {
                        let frame = try #require(try await streams[index].nextFrame())
                        if frame.opcode == .text { seen.append(String(buffer: frame.unmaskedData)) }
                    }
                    texts.append(seen)
                }
                return texts
            }
            func startCall() async throws -> (TestWebSocket, String) {
                var stream = try await TestWebSocket.connect(port: server.port)
                let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
                return (stream, try #require(started.callID))
            }
            let (first, _) = try await startCall()
            let (second, secondCall) = try await startCall()
            var streams = [first, second]
            let firstRound = try await streamAll(&streams)
            // The first call ends; a third one takes its place.
            try await streams[0].sendText(#"{"type":"stop"}"#)
            _ = try await Self.texts(&streams[0])
            try await Task.sleep(for: .milliseconds(500))
            let (third, thirdCall) = try await startCall()
            streams = [streams[1], third]
            let secondRound = try await streamAll(&streams)
            let sent = [firstRound[1] + secondRound[0], secondRound[1]]
            try await Task.sleep(for: .milliseconds(1_500))  // spooled, not just pending
            var subscribers = [try await Self.subscribe(server, call: secondCall), try await Self.subscribe(server, call: thirdCall)]
            for index in streams.indices {
                try await streams[index].sendText(#"{"type":"stop"}"#)
                let (rest, _) = try await Self.texts(&streams[index])
                let (seen, close) = try await Self.texts(&subscribers[index])
                #expect(seen == Self.subscriberView(sent[index] + rest))
                #expect(close == .normalClosure)
            }
        }
    }

    /// Whichever ingress: a Twilio stream's call has subscribers too.
    @Test func aTwilioCallHasSubscribers() async throws {
        try await withServer { server in
            let sid = TwilioStreamTests.callSid("7")
            var twilio = try await TwilioTestClient.connect(port: server.port)
            try await twilio.start(callSid: sid, tracks: ["inbound"], parameters: [:])
            var call: String?
            for _ in 0..<250 where call == nil {
                let found = try await server.request("GET", "/calls?external_id=\(sid)")
                call = (found.json["items"] as? [[String: Any]])?.first?["id"] as? String
                try await Task.sleep(for: .milliseconds(20))
            }
            var subscriber = try await Self.subscribe(server, call: try #require(call))
            let packets = try TestPCM.load("call30_8k.wav").mulawChunks(ms: 20).prefix(100)
            for (index, packet) in packets.enumerated() {
                try await twilio.media("inbound", timestampMs: index * 20, chunk: index + 1, packet)
            }
            try await twilio.stop(callSid: sid)
            let (seen, close) = try await Self.texts(&subscriber)
            #expect(seen.filter { $0.hasPrefix(#"{"type":"transcript""#) }.count == 20)
            #expect(seen.last?.hasPrefix(#"{"type":"stopped""#) == true)
            #expect(close == .normalClosure)
        }
    }

    /// A subscriber that never reads is dropped once it falls 1 MiB behind; the call and a
    /// subscriber that keeps up lose nothing.
    @Test func aSubscriberThatDoesNotReadIsDroppedAndNobodyElseNotices() async throws {
        try await withServer { server in
            // 10 ms chunks of 8 kHz PCM: many transcripts (about 150 bytes each) for little audio.
            let pcm = TestPCM(rate: 8000, channels: 1, data: [UInt8](repeating: 0x11, count: 8000 * 2 * 150))
            let chunks = pcm.pcmChunks(ms: 10)
            var stream = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            let call = try #require(started.callID)
            let stalled = try RawConnection(port: server.port, receiveTimeoutSeconds: 30, receiveBufferBytes: 4096)
            try stalled.send(RawConnection.upgradeRequest(path: "/calls/\(call)/live"))
            // The test client reads everything into its own buffer: it keeps up.
            var follower = try await Self.subscribe(server, call: call)
            try await Task.sleep(for: .milliseconds(200))
            for chunk in chunks { try await stream.sendChunk(chunk) }
            try await stream.sendText(#"{"type":"stop"}"#)
            let (sent, _) = try await Self.texts(&stream)
            let (seen, close) = try await Self.texts(&follower)
            #expect(seen == Self.subscriberView(sent) && seen.count == chunks.count + 1)
            #expect(close == .normalClosure)
            // The stalled one was cut off: reading now, it finds the end of the connection.
            #expect(try await stalled.drainUntilClosed())
            #expect(server.log.contains("dropping a live subscriber that does not keep up"))
        }
    }

    /// No such call: 404; a call not being recorded now: 409 (for an upgrade too); a private
    /// call: the upgrade is taken and closed with 1008.
    @Test func subscriptionsAreRefusedWithAReason() async throws {
        try await withServer { server in
            let unknown = try await server.request("GET", "/calls/\(UUID().uuidString)/live")
            #expect(unknown.status == 404 && unknown.errorCode == "call_not_found")
            let idle = try await CallAPITests.createCall(server)
            let notLive = try await server.request("GET", "/calls/\(idle)/live")
            #expect(notLive.status == 409 && notLive.errorCode == "call_not_live")
            let raw = try RawConnection(port: server.port)
            try raw.send(RawConnection.upgradeRequest(path: "/calls/\(idle)/live"))
            #expect(try await raw.receiveJSONAnswer().status == 409)
            raw.close()

            let pcm = try TestPCM.load("call30.wav")
            var stream = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await stream.control(LiveSessionTests.start(codec: "pcm_s16le", pcm, extra: ["private": true])))
            let call = try #require(started.callID)
            let plain = try await server.request("GET", "/calls/\(call)/live")
            #expect(plain.status == 403 && plain.errorCode == "recording_private")
            var subscriber = try await Self.subscribe(server, call: call)
            let (seen, close) = try await Self.texts(&subscriber)
            #expect(seen.isEmpty && close == .policyViolation)
            #expect(subscriber.closeReason?.hasPrefix("recording_private") == true)
            await stream.close()
        }
    }
}
