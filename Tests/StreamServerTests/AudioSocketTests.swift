import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An Asterisk AudioSocket client as `res_audiosocket.h` describes it: kind, 16-bit big-endian
/// length, payload; the UUID first, then 20 ms frames of signed linear audio.
struct AudioSocketTestClient {
    let connection: RawConnection
    let uuid = UUID()

    /// The port the server logged for `--audiosocket-port 0`.
    static func port(_ server: TestServer) async throws -> Int {
        for _ in 0..<250 {
            if let range = server.log.range(of: "AudioSocket on port ") {
                if let port = Int(server.log[range.upperBound...].prefix { $0.isNumber }) { return port }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestServerError.timeout("no AudioSocket port in the log")
    }

    init(_ server: TestServer) async throws {
        self.connection = try RawConnection(port: try await Self.port(server), receiveTimeoutSeconds: 20)
    }

    static func message(_ kind: UInt8, _ payload: [UInt8]) -> Data {
        Data([kind, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload)
    }

    var externalID: String { self.uuid.uuidString.lowercased() }

    func sendUUID() throws {
        try self.connection.send(Self.message(0x01, withUnsafeBytes(of: self.uuid.uuid) { Array($0) }))
    }

    /// `pcm` (16-bit mono) as 20 ms frames of `kind` (0x10: 8 kHz, 0x12: 16 kHz).
    func sendAudio(_ pcm: TestPCM, kind: UInt8 = 0x10) throws {
        for frame in pcm.pcmChunks(ms: 20) { try self.connection.send(Self.message(kind, frame)) }
    }

    func hangUp() throws { try self.connection.send(Self.message(0x00, [])) }

    /// Every byte the server sends until it closes the connection.
    func receivedUntilClosed() async throws -> [UInt8] {
        try await RawConnection.blocking { [fd = self.connection.fd] in
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { return received }
                received += buffer[0..<count]
            }
        }
    }
}

/// `--audiosocket-port` against the real server, workers and SQLite file.
@Suite struct AudioSocketTests {
    /// A call made beforehand with the connection's UUID as external_id takes its audio: after
    /// call30_8k.wav and a hang-up it is `ready` with exactly the samples sent; the server sent
    /// nothing back.
    @Test func aPreparedCallTakesTheAudioOfItsUUID() async throws {
        try await withServer(arguments: ["--audiosocket-port", "0"]) { server in
            let client = try await AudioSocketTestClient(server)
            let created = try await server.request(
                "POST",
                "/calls",
                body: CallAPITests.json([
                    "caller": "+15550100011", "receiver": "+15550100012", "started_at": "2026-12-04T09:00:00Z", "external_id": client.externalID,
                ])
            )
            let id = try #require(created.json["id"] as? String)
            let pcm = try TestPCM.load("call30_8k.wav")
            try client.sendUUID()
            try client.connection.send(AudioSocketTestClient.message(0x03, [UInt8(ascii: "7")]))
            try client.sendAudio(pcm)
            try client.hangUp()
            #expect(try await client.receivedUntilClosed().isEmpty)
            let call = try await CallAPITests.settled(server, call: id)
            #expect(call["status"] as? String == "ready", "\(call)")
            #expect(call["caller"] as? String == "+15550100011" && call["external_id"] as? String == client.externalID)
            let recording = try await LiveSessionTests.download(server, call: id)
            #expect(recording.rate == 8000 && recording.channels == 1)
            #expect(recording.data == pcm.data)
            let found = try await server.request("GET", "/calls?external_id=\(client.externalID)")
            #expect((found.json["items"] as? [Any])?.count == 1)
        }
    }

    /// Without one, a new call carries the UUID; 16 kHz frames make a 16 kHz recording; a close
    /// without a hang-up ends the call; PATCH then sets its numbers.
    @Test func aNewCallCarriesTheUUIDAndIsPatchedAfterwards() async throws {
        try await withServer(arguments: ["--audiosocket-port", "0", "--resume-window", "60"]) { server in
            let client = try await AudioSocketTestClient(server)
            let pcm = TestPCM(rate: 16000, channels: 1, data: [UInt8](repeating: 0x10, count: 16000 * 2 * 2))  // 2 s
            try client.sendUUID()
            try client.sendAudio(pcm, kind: 0x12)
            client.connection.close()
            let call = try await TwilioStreamTests.call(server, externalID: client.externalID)
            #expect(call["status"] as? String == "ready", "\(call)")
            #expect(call["caller"] as? String == "")
            let id = try #require(call["id"] as? String)
            let recording = try await LiveSessionTests.download(server, call: id)
            #expect(recording.rate == 16000 && recording.data == pcm.data)

            let patched = try await server.request(
                "PATCH",
                "/calls/\(id)",
                body: CallAPITests.json(["caller": "+1 555 010 0021", "receiver": "+15550100022", "private": true])
            )
            #expect(patched.status == 200, "\(String(decoding: patched.body, as: UTF8.self))")
            #expect(patched.json["caller"] as? String == "+15550100021" && patched.json["private"] as? Bool == true)
            let stored = try await server.request("GET", "/calls/\(id)")
            #expect(stored.json["receiver"] as? String == "+15550100022" && stored.json["status"] as? String == "ready")
            #expect(try await server.request("GET", "/calls/\(id)/download").status == 403)
        }
    }

    /// Malformed input closes that connection only: a call streaming beside it is untouched.
    @Test func malformedInputClosesThatConnectionOnly() async throws {
        try await withServer(arguments: ["--audiosocket-port", "0"]) { server in
            let good = try await AudioSocketTestClient(server)
            try good.sendUUID()
            let pcm = try TestPCM.load("call30_8k.wav")
            let half = TestPCM(rate: 8000, channels: 1, data: Array(pcm.data.prefix(pcm.data.count / 2)))
            let rest = TestPCM(rate: 8000, channels: 1, data: Array(pcm.data.suffix(from: pcm.data.count / 2)))
            try good.sendAudio(half)
            let bad: [[Data]] = [
                [AudioSocketTestClient.message(0x10, [0, 0])],  // audio before the UUID
                [AudioSocketTestClient.message(0x42, [1, 2])],  // an unknown kind
                [AudioSocketTestClient.message(0x01, [1, 2, 3])],  // a short UUID
                [
                    AudioSocketTestClient.message(0x01, [UInt8](repeating: 1, count: 16)), AudioSocketTestClient.message(0x10, [0, 0]),
                    AudioSocketTestClient.message(0x12, [0, 0]),
                ],  // the rate changes
                [AudioSocketTestClient.message(0x01, [UInt8](repeating: 2, count: 16)), AudioSocketTestClient.message(0x10, [0])],  // half a sample
            ]
            for messages in bad {
                let client = try await AudioSocketTestClient(server)
                for message in messages { try client.connection.send(message) }
                #expect(try await client.receivedUntilClosed().isEmpty)
            }
            try good.sendAudio(rest)
            try good.hangUp()
            #expect(try await good.receivedUntilClosed().isEmpty)
            let call = try await TwilioStreamTests.call(server, externalID: good.externalID)
            #expect(call["status"] as? String == "ready")
            let recording = try await LiveSessionTests.download(server, call: try #require(call["id"] as? String))
            #expect(recording.data == pcm.data)
            #expect(try await server.get("/healthz").0 == 200)
        }
    }

    /// 192 kHz frames (kind 0x18) are recorded at 48 kHz, each four samples averaged.
    @Test func highRatesAreKeptAt48kHz() async throws {
        try await withServer(arguments: ["--audiosocket-port", "0"]) { server in
            let client = try await AudioSocketTestClient(server)
            try client.sendUUID()
            let group = [Int16(100), 200, 300, 400].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
            let second = TestPCM(rate: 192_000, channels: 1, data: Array([[UInt8]](repeating: group, count: 48_000).joined()))
            try client.sendAudio(second, kind: 0x18)
            try client.hangUp()
            #expect(try await client.receivedUntilClosed().isEmpty)
            let call = try await TwilioStreamTests.call(server, externalID: client.externalID)
            #expect(call["status"] as? String == "ready", "\(call)")
            let recording = try await LiveSessionTests.download(server, call: try #require(call["id"] as? String))
            #expect(recording.rate == 48_000 && recording.samples.count == 48_000)
            #expect(recording.samples.allSatisfy { $0 == 250 })
        }
    }

    /// When the server ends the call (here `--max-recording-minutes`), it sends Asterisk the
    /// hang-up kind, nothing else, and closes.
    @Test func theServerEndsACallWithAHangUp() async throws {
        try await withServer(arguments: ["--audiosocket-port", "0", "--max-recording-minutes", "0.02"]) { server in
            let client = try await AudioSocketTestClient(server)
            try client.sendUUID()
            // 2 s: all of it is in the socket's buffers before the server stops reading at 1.2 s.
            try client.sendAudio(TestPCM(rate: 8000, channels: 1, data: [UInt8](repeating: 0x20, count: 8000 * 2 * 2)))
            #expect(try await client.receivedUntilClosed() == [0x00, 0x00, 0x00])
            let call = try await TwilioStreamTests.call(server, externalID: client.externalID)
            let recording = try #require(call["recording"] as? [String: Any])
            #expect(abs((recording["duration_sec"] as? Double ?? 0) - 1.2) < 0.01)
        }
    }
}
