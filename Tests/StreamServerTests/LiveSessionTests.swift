import Foundation
import NIOWebSocket
import Protocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Started live sessions against the real server, workers and SQLite file: recorded, finalised,
/// analysed like uploads, and resumable.
@Suite struct LiveSessionTests {
    static func start(codec: String, _ pcm: TestPCM, extra: [String: Any] = [:]) -> [String: Any] {
        ["type": "start", "codec": codec, "sample_rate": pcm.rate, "channels": pcm.channels].merging(extra) { $1 }
    }

    /// Streams `chunks` in a started session, stops, and returns what came back.
    static func stream(_ server: TestServer, start: [String: Any], chunks: [[UInt8]]) async throws -> (
        started: ServerMessage, session: SessionTranscript, close: WebSocketErrorCode?
    ) {
        var socket = try await TestWebSocket.connect(port: server.port)
        let started = try #require(try await socket.control(start))
        #expect(started.kind == .started, "\(started)")
        for chunk in chunks { try await socket.sendChunk(chunk) }
        try await socket.sendText(#"{"type":"stop"}"#)
        var session = SessionTranscript()
        try await socket.collect(into: &session)
        let close = try await socket.waitForClose()
        return (started, session, close)
    }

    static func download(_ server: TestServer, call: String) async throws -> TestPCM {
        let answer = try await server.request("GET", "/calls/\(call)/download")
        #expect(answer.status == 200)
        return try TestPCM.parse([UInt8](answer.body))
    }

    static func marks(_ call: [String: Any]) -> [[Int]] {
        let recording = call["recording"] as? [String: Any] ?? [:]
        return (recording["silence_marks"] as? [[String: Int]] ?? []).map { [$0["start_ms"] ?? -1, $0["end_ms"] ?? -1] }
    }

    /// call30.wav as 100 ms PCM chunks: every chunk acked and transcribed with its place in the
    /// stream, `stopped` with the session's counts, close 1000; the call becomes `ready` with the
    /// upload's duration and silence marks, its download has exactly the samples sent, and its
    /// transcript is one segment per chunk.
    @Test func aPCMSessionBecomesAReadyCallWithTheSamplesSent() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            let (started, session, close) = try await Self.stream(
                server,
                start: Self.start(codec: "pcm_s16le", pcm, extra: ["caller": "+1 555 010 2030", "external_id": "CA-live-1"]),
                chunks: chunks
            )
            let call = try #require(started.callID)
            #expect(started.resumeToken.map { $0.count >= 32 } == true)
            #expect(session.acks == Array(1...UInt64(chunks.count)))
            #expect(session.transcripts.map(\.seq) == Array(1...UInt64(chunks.count)).map(Optional.some))
            for (index, transcript) in session.transcripts.enumerated() {
                #expect(transcript.startMs == Int64(index * 100) && transcript.endMs == Int64(index * 100 + 100))
                #expect(MockTranscript.matches(transcript.transcription ?? "", seq: UInt64(index + 1), byteCount: chunks[index].count))
            }
            #expect(session.errors.isEmpty)
            let stopped = try #require(session.stopped)
            #expect(stopped.callID == call && stopped.chunks == chunks.count && stopped.bytes == Int64(pcm.data.count) && stopped.errors == 0)
            #expect(stopped.durationSec == 30)
            #expect(close == .normalClosure)

            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready", "\(settled)")
            #expect(settled["caller"] as? String == "+15550102030")
            #expect(settled["external_id"] as? String == "CA-live-1")
            let recording = try #require(settled["recording"] as? [String: Any])
            #expect(abs((recording["duration_sec"] as? Double ?? 0) - 30) <= 0.05)
            #expect(recording["origin"] as? String == "live")
            let expected = try CallAPITests.expectedCall30()
            let marks = Self.marks(settled)
            #expect(marks.count == expected.pydub_silence_ms.count, "\(marks)")
            for (mark, want) in zip(marks, expected.pydub_silence_ms) {
                #expect(abs(mark[0] - want[0]) <= 30 && abs(mark[1] - want[1]) <= 30, "\(mark) vs \(want)")
            }
            let downloaded = try await Self.download(server, call: call)
            #expect(downloaded.rate == pcm.rate && downloaded.channels == pcm.channels)
            #expect(downloaded.data == pcm.data)

            let transcript = try await server.request("GET", "/calls/\(call)/transcript")
            #expect(transcript.status == 200)
            let segments = transcript.json["segments"] as? [[String: Any]] ?? []
            #expect(segments.count == chunks.count)
            #expect(segments.last?["start_ms"] as? Int == 29900 && segments.last?["end_ms"] as? Int == 30000)
            #expect(segments.map { $0["seq"] as? Int ?? 0 } == Array(1...chunks.count))
            // The segments are in the full-text index: the call is found by what was said, and
            // only chunk 300's text ("… msg#300 (binary 3200 bytes)") has the word 300.
            let found = try await server.request("GET", "/calls?text=transcription")
            #expect((found.json["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [call])
            let marked = try await server.request("GET", "/calls/\(call)/transcript?q=300").json["segments"] as? [[String: Any]] ?? []
            #expect(marked.filter { $0["match"] as? Bool == true }.map { $0["seq"] as? Int } == [300])
        }
    }

    /// call30_8k.wav as μ-law and A-law: the recording is the G.711-decoded audio, 30 s long.
    @Test(arguments: ["mulaw", "alaw"])
    func aG711SessionIsRecordedDecoded(codec: String) async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30_8k.wav")
            let encoded = pcm.samples.map { codec == "mulaw" ? G711Reference.mulaw($0) : G711Reference.alaw($0) }
            let step = 8000 / 10
            let chunks = stride(from: 0, to: encoded.count, by: step).map { Array(encoded[$0..<min($0 + step, encoded.count)]) }
            let (started, session, _) = try await Self.stream(server, start: Self.start(codec: codec, pcm), chunks: chunks)
            #expect(session.transcripts.count == chunks.count && session.errors.isEmpty)
            #expect(session.transcripts.last?.endMs == 30000)
            let call = try #require(started.callID)
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            let recording = try #require(settled["recording"] as? [String: Any])
            #expect(abs((recording["duration_sec"] as? Double ?? 0) - 30) <= 0.05)
            let downloaded = try await Self.download(server, call: call)
            let decoded = encoded.map { codec == "mulaw" ? G711Reference.decodeMulaw($0) : G711Reference.decodeAlaw($0) }
            #expect(downloaded.samples == decoded)
            // G.711's quantisation noise is far below the -40 dBFS threshold: pydub's marks hold.
            let expected = try CallAPITests.expectedCall30()
            let marks = Self.marks(settled)
            #expect(marks.count == expected.pydub_silence_ms.count, "\(marks)")
            for (mark, want) in zip(marks, expected.pydub_silence_ms) {
                #expect(abs(mark[0] - want[0]) <= 30 && abs(mark[1] - want[1]) <= 30, "\(mark) vs \(want)")
            }
        }
    }

    /// call30.wav as 20 ms Opus packets: 1500 packets, each transcript 20 ms long, the call
    /// `ready` and within 100 ms of 30 s.
    @Test func anOpusSessionIsDecodedInTheWorkers() async throws {
        try await withServer { server in
            let pcm = try TestPCM.load("call30.wav")
            let packets = try pcm.opusPackets(ms: 20)
            let (started, session, _) = try await Self.stream(server, start: Self.start(codec: "opus", pcm), chunks: packets)
            #expect(session.errors.isEmpty)
            #expect(session.transcripts.count == packets.count)
            #expect(
                session.transcripts.enumerated().allSatisfy {
                    $0.element.startMs == Int64($0.offset * 20) && $0.element.endMs == Int64($0.offset * 20 + 20)
                }
            )
            #expect(session.stopped?.durationSec == 30)
            let call = try #require(started.callID)
            let settled = try await CallAPITests.settled(server, call: call)
            #expect(settled["status"] as? String == "ready")
            let recording = try #require(settled["recording"] as? [String: Any])
            #expect(abs((recording["duration_sec"] as? Double ?? 0) - 30) <= 0.1)
            #expect(!Self.marks(settled).isEmpty)
        }
    }
}

/// G.711 encoders written out independently of `AudioCodecs` (from the ITU-T formulas), so
/// the server's decoding is checked against a second implementation.
enum G711Reference {
    static func mulaw(_ sample: Int16) -> UInt8 {
        var value = Int(sample)
        let sign = value < 0 ? 0x80 : 0x00
        value = min(abs(value), 32635) + 132
        let exponent = max(0, Int(log2(Double(value))) - 7)
        let mantissa = (value >> (exponent + 3)) & 0x0F
        return ~UInt8(sign | exponent << 4 | mantissa)
    }

    static func decodeMulaw(_ code: UInt8) -> Int16 {
        let value = Int(~code)
        let magnitude = ((((value & 0x0F) << 3) + 132) << ((value >> 4) & 0x07)) - 132
        return Int16(value & 0x80 != 0 ? -magnitude : magnitude)
    }

    static func alaw(_ sample: Int16) -> UInt8 {
        var value = Int(sample)
        let mask = value >= 0 ? 0xD5 : 0x55
        if value < 0 { value = -value - 1 }
        value >>= 3
        let segment = value < 32 ? 0 : min(Int(log2(Double(value))) - 4, 8)
        guard segment < 8 else { return UInt8(0x7F ^ mask) }
        let quantised = segment < 2 ? (value >> 1) & 0x0F : (value >> segment) & 0x0F
        return UInt8((segment << 4 | quantised) ^ mask)
    }

    static func decodeAlaw(_ code: UInt8) -> Int16 {
        let value = Int(code ^ 0x55)
        let segment = (value & 0x70) >> 4
        var magnitude = (value & 0x0F) << 4 + 8
        if segment > 0 { magnitude = (magnitude + 0x100) << (segment - 1) }
        return Int16(value & 0x80 != 0 ? magnitude : -magnitude)
    }
}
