import AudioCodecs
import Foundation
import NIOCore
import NIOWebSocket
import Testing

/// A Twilio Media Streams client as Twilio's documentation describes it: `connected`, `start`,
/// one `media` event per 20 ms of μ-law per track (numbers as strings), `stop`.
struct TwilioTestClient {
    var socket: TestWebSocket
    let streamSid = "MZ" + String(repeating: "5", count: 32)
    private var sequence = 0

    static func connect(port: Int, headers: [(String, String)] = []) async throws -> TwilioTestClient {
        TwilioTestClient(socket: try await TestWebSocket.connect(port: port, path: "/api/twilio/ws", headers: headers))
    }

    private init(socket: TestWebSocket) {
        self.socket = socket
    }

    private mutating func send(_ event: String, _ body: [String: Any]) async throws {
        self.sequence += 1
        var message: [String: Any] = ["event": event, "sequenceNumber": String(self.sequence), "streamSid": self.streamSid]
        message.merge(body) { $1 }
        try await self.socket.sendText(String(decoding: CallAPITests.json(message), as: UTF8.self))
    }

    mutating func start(callSid: String, tracks: [String], parameters: [String: String]) async throws {
        try await self.socket.sendText(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
        try await self.send(
            "start",
            [
                "start": [
                    "streamSid": self.streamSid, "accountSid": "AC" + String(repeating: "0", count: 32), "callSid": callSid,
                    "tracks": tracks, "customParameters": parameters,
                    "mediaFormat": ["encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1],
                ] as [String: Any]
            ]
        )
    }

    mutating func media(_ track: String, timestampMs: Int, chunk: Int, _ payload: [UInt8]) async throws {
        try await self.send(
            "media",
            ["media": ["track": track, "chunk": String(chunk), "timestamp": String(timestampMs), "payload": Data(payload).base64EncodedString()]]
        )
    }

    mutating func stop(callSid: String) async throws {
        try await self.send("stop", ["stop": ["accountSid": "AC" + String(repeating: "0", count: 32), "callSid": callSid]])
    }

    /// Everything the server sends until it closes: (opcodes of the frames, the close code).
    mutating func framesUntilClose() async throws -> ([WebSocketOpcode], WebSocketErrorCode?) {
        var opcodes: [WebSocketOpcode] = []
        while let frame = try await self.socket.nextFrame(timeout: .seconds(20)) {
            opcodes.append(frame.opcode)
            if frame.opcode == .connectionClose { break }
        }
        return (opcodes, self.socket.closeCode)
    }
}

/// `/api/twilio/ws` against the real server, workers and SQLite file.
@Suite struct TwilioStreamTests {
    static func callSid(_ digit: Character) -> String { "CA" + String(repeating: digit, count: 32) }

    /// The call whose `external_id` is `sid`, once it has settled.
    static func call(_ server: TestServer, externalID sid: String) async throws -> [String: Any] {
        for _ in 0..<250 {
            let answer = try await server.request("GET", "/calls?external_id=\(sid)")
            if let id = (answer.json["items"] as? [[String: Any]])?.first?["id"] as? String {
                return try await CallAPITests.settled(server, call: id)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("no call for \(sid)")
    }

    /// call30_8k.wav inbound and μ-law silence outbound for its first 10 s only (then no
    /// outbound media at all), with bad messages in between: a two-channel call with the file on
    /// the left and digital silence on the right, the numbers from the parameters, the callSid as
    /// its external_id; the server sent nothing but its close.
    @Test func aBothTracksStreamBecomesAStereoCall() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30_8k.wav")
            let packets = pcm.mulawChunks(ms: 20)
            let sid = Self.callSid("1")
            var twilio = try await TwilioTestClient.connect(port: server.port)
            try await twilio.start(callSid: sid, tracks: ["inbound", "outbound"], parameters: ["from": "+15550100001", "to": "+15550100002"])
            for (index, packet) in packets.enumerated() {
                try await twilio.media("inbound", timestampMs: index * 20, chunk: index + 1, packet)
                if index < 500 { try await twilio.media("outbound", timestampMs: index * 20, chunk: index + 1, [UInt8](repeating: 0xFF, count: 160)) }
                if index == 100 {
                    try await twilio.socket.sendText("not json")
                    try await twilio.socket.sendText(#"{"event":"hangup"}"#)
                    try await twilio.socket.sendText(#"{"event":"media","media":{"track":"inbound","timestamp":12,"payload":"%%"}}"#)
                    try await twilio.socket.sendBinary(count: 160)
                    try await twilio.socket.sendText(
                        #"{"event":"dtmf","streamSid":"MZ","sequenceNumber":"9","dtmf":{"track":"inbound_track","digit":"5"}}"#
                    )
                }
            }
            try await twilio.stop(callSid: sid)
            let (opcodes, close) = try await twilio.framesUntilClose()
            #expect(opcodes == [.connectionClose])
            #expect(close == .normalClosure)

            let call = try await Self.call(server, externalID: sid)
            #expect(call["status"] as? String == "ready", "\(call)")
            #expect(call["caller"] as? String == "+15550100001" && call["receiver"] as? String == "+15550100002")
            #expect(call["external_id"] as? String == sid)
            let id = try #require(call["id"] as? String)
            let recording = try await LiveSessionTests.download(server, call: id)
            #expect(recording.rate == 8000 && recording.channels == 2)
            let samples = recording.samples
            let expected = pcm.samples.map { G711.mulawToLinear[Int(G711.encodeMulaw($0))] }
            #expect(samples.count == expected.count * 2)
            let left = stride(from: 0, to: samples.count, by: 2).map { samples[$0] }
            let right = stride(from: 1, to: samples.count, by: 2).map { samples[$0] }
            #expect(left == expected)
            #expect(right.allSatisfy { $0 == 0 })

            let metrics = try await server.get("/metrics").1
            for reason in ["not_json", "unknown_event", "invalid_fields", "binary"] {
                #expect(metrics.contains(#"callstream_twilio_messages_skipped_total{reason="\#(reason)"} 1"#), "\(reason)")
            }
        }
    }

    /// `<Connect><Stream>`: the inbound track only, a mono call; a close without `stop` ends it
    /// at once (no resume window for Twilio).
    @Test func anInboundStreamClosedWithoutStopIsAMonoCall() async throws {
        try await withServer(arguments: ["--resume-window", "60"]) { server in
            let pcm = try TestPCM.load("call30_8k.wav")
            let packets = Array(pcm.mulawChunks(ms: 20).prefix(250))
            let sid = Self.callSid("2")
            var twilio = try await TwilioTestClient.connect(port: server.port)
            try await twilio.start(callSid: sid, tracks: ["inbound"], parameters: ["caller": "anonymous"])
            for (index, packet) in packets.enumerated() {
                try await twilio.media("inbound", timestampMs: 40 + index * 20, chunk: index + 1, packet)
            }
            await twilio.socket.close()
            let call = try await Self.call(server, externalID: sid)
            #expect(call["status"] as? String == "ready", "\(call)")
            #expect(call["caller"] as? String == "")
            let recording = try await LiveSessionTests.download(server, call: try #require(call["id"] as? String))
            #expect(recording.channels == 1)
            #expect(recording.samples.count == 250 * 160)
        }
    }

    /// A `call_id` parameter records into an existing call.
    @Test func aCallIDParameterRecordsIntoThatCall() async throws {
        try await withServer { server in
            let created = try await server.request(
                "POST",
                "/calls",
                body: CallAPITests.json(["caller": "+15550100009", "receiver": "+15550100008", "started_at": "2026-12-01T10:00:00Z"])
            )
            let id = try #require(created.json["id"] as? String)
            var twilio = try await TwilioTestClient.connect(port: server.port)
            try await twilio.start(callSid: Self.callSid("3"), tracks: ["inbound"], parameters: ["call_id": id])
            for index in 0..<50 { try await twilio.media("inbound", timestampMs: index * 20, chunk: index + 1, [UInt8](repeating: 0x55, count: 160)) }
            try await twilio.stop(callSid: Self.callSid("3"))
            #expect(try await twilio.framesUntilClose().1 == .normalClosure)
            let call = try await CallAPITests.settled(server, call: id)
            #expect(call["status"] as? String == "ready", "\(call)")
            let recording = try #require(call["recording"] as? [String: Any])
            #expect(abs((recording["duration_sec"] as? Double ?? 0) - 1) < 0.01)
        }
    }

    /// What Twilio cannot be told closes the stream with 1008: media before start, an unknown
    /// call_id, another media format; with auth tokens, a start without its token parameter.
    @Test func refusedStreamsCloseWith1008() async throws {
        let tokens = try SecurityTests.tokensFile(["twilio-secret"])
        try await withServer(arguments: ["--auth-tokens-file", tokens.path]) { server in
            var early = try await TwilioTestClient.connect(port: server.port)
            try await early.media("inbound", timestampMs: 0, chunk: 1, [UInt8](repeating: 0xFF, count: 160))
            #expect(try await early.framesUntilClose() == ([.connectionClose], .policyViolation))

            var unauthorized = try await TwilioTestClient.connect(port: server.port)
            try await unauthorized.start(callSid: Self.callSid("4"), tracks: ["inbound"], parameters: [:])
            #expect(try await unauthorized.framesUntilClose().1 == .policyViolation)
            #expect(unauthorized.socket.closeReason?.hasPrefix("unauthorized") == true)

            var unknownCall = try await TwilioTestClient.connect(port: server.port)
            try await unknownCall.start(
                callSid: Self.callSid("5"),
                tracks: ["inbound"],
                parameters: ["token": "twilio-secret", "call_id": UUID().uuidString]
            )
            #expect(try await unknownCall.framesUntilClose().1 == .policyViolation)
            #expect(unknownCall.socket.closeReason?.hasPrefix("call_not_found") == true)

            // With its token the stream is taken, and so is one whose upgrade carried a bearer token.
            for (parameters, headers) in [(["token": "twilio-secret"], []), ([:], [("Authorization", "Bearer twilio-secret")])] {
                var twilio = try await TwilioTestClient.connect(port: server.port, headers: headers)
                try await twilio.start(callSid: Self.callSid("6"), tracks: ["inbound"], parameters: parameters)
                for index in 0..<10 {
                    try await twilio.media("inbound", timestampMs: index * 20, chunk: index + 1, [UInt8](repeating: 0xFF, count: 160))
                }
                try await twilio.stop(callSid: Self.callSid("6"))
                #expect(try await twilio.framesUntilClose().1 == .normalClosure)
            }
            // A plain GET is told the endpoint speaks WebSocket only.
            let plain = try await server.request("GET", "/api/twilio/ws", headers: ["Authorization": "Bearer twilio-secret"])
            #expect(plain.status == 426 && plain.errorCode == "upgrade_required")
        }
    }
}
