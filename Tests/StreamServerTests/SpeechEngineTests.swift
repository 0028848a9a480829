import Foundation
import NIOWebSocket
import Protocol
import SpeechRecognition
import Testing

/// The real engines end to end: the server with `--engine moonshine`, `pocketsphinx` or
/// `hybrid`, its real workers and models, real recordings. One at a time: each server loads
/// Moonshine (about 300 MB) and keeps the CPU busy.
@Suite(.serialized) struct SpeechEngineTests {
    static let projectDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where `make setup` links the moonshine-cpp wheel.
    static var moonshineDirectory: String {
        ProcessInfo.processInfo.environment["CALLSTREAM_MOONSHINE_DIR"] ?? projectDirectory.appendingPathComponent(".venv/moonshine").path
    }

    static func engine(_ name: String) -> [String] {
        ["--engine", name, "--moonshine-dir", Self.moonshineDirectory]
    }

    static func call30Text() throws -> String {
        let json = try JSONSerialization.jsonObject(with: try CallAPITests.audio("call30.json")) as? [String: Any] ?? [:]
        return (json["sentences"] as? [String] ?? []).joined(separator: " ")
    }

    /// Polls the call until its analysis is done (a real engine takes seconds).
    static func settled(_ server: TestServer, call: String) async throws -> [String: Any] {
        for _ in 0..<600 {
            let answer = try await server.request("GET", "/calls/\(call)")
            if answer.json["status"] as? String != "processing" { return answer.json }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestServerError.timeout("call \(call) still processing")
    }

    static func segments(_ server: TestServer, call: String, query: String = "") async throws -> [[String: Any]] {
        let answer = try await server.request("GET", "/calls/\(call)/transcript\(query)")
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        return answer.json["segments"] as? [[String: Any]] ?? []
    }

    static func text(_ segments: [[String: Any]], channel: Int? = nil) -> String {
        segments.filter { channel == nil || $0["channel"] as? Int == channel }.compactMap { $0["text"] as? String }.joined(separator: " ")
    }

    /// call30.wav uploaded: the whole recording is transcribed (six sentences, under 10 % WER),
    /// its opening is the recording's `transcription`, and the call is found by what was said,
    /// with the matching segments marked.
    @Test func anUploadIsTranscribedWholeAndFoundByWhatWasSaid() async throws {
        try await withServer(arguments: Self.engine("moonshine")) { server in
            let call = try await CallAPITests.createCall(server)
            // A call without a transcript is never found by text.
            _ = try await CallAPITests.createCall(server)
            #expect(
                try await CallAPITests.upload(server, call: call, filename: "call30.wav", content: CallAPITests.audio("call30.wav")).status == 202
            )
            let settled = try await Self.settled(server, call: call)
            #expect(settled["status"] as? String == "ready", "\(settled)")

            let segments = try await Self.segments(server, call: call)
            let heard = Self.text(segments)
            let rate = WordErrorRate.of(hypothesis: heard, reference: try Self.call30Text())
            #expect(rate < 0.10, "WER \(rate): \(heard)")
            #expect(segments.count >= 5 && segments.count <= 8, "\(segments)")
            #expect(segments.allSatisfy { $0["channel"] as? Int == 0 })
            let starts = segments.compactMap { $0["start_ms"] as? Int }
            #expect(starts == starts.sorted() && starts.count == segments.count)
            let recording = settled["recording"] as? [String: Any] ?? [:]
            let opening = recording["transcription"] as? String ?? ""
            #expect(opening.lowercased().contains("billing department"), "\(opening)")

            let found = try await server.request("GET", "/calls?text=duplicate%20PAYMENT")
            #expect(found.status == 200)
            #expect(found.json["total"] as? Int == 1)
            #expect((found.json["items"] as? [[String: Any]])?.first?["id"] as? String == call)
            #expect(try await server.request("GET", "/calls?text=duplicate%20zebra").json["total"] as? Int == 0)
            #expect(try await server.request("GET", "/calls?text=payment&status=failed").json["total"] as? Int == 0)
            #expect(try await server.request("GET", "/calls?text=").errorCode == "invalid_text")
            #expect(
                try await server.request("GET", "/calls?text=" + Array(repeating: "word", count: 11).joined(separator: "+")).errorCode
                    == "invalid_text"
            )

            let marked = try await Self.segments(server, call: call, query: "?q=invoice")
            let matches = marked.filter { $0["match"] as? Bool == true }.compactMap { $0["text"] as? String }
            #expect(!matches.isEmpty && matches.allSatisfy { $0.lowercased().contains("invoice") }, "\(marked)")
            #expect(marked.contains { $0["match"] as? Bool == false })
        }
    }

    /// A stereo call whose legs say different things: each leg's segments carry its channel
    /// and its words, and none of the other's.
    @Test func aStereoCallIsTranscribedPerChannel() async throws {
        try await withServer(arguments: Self.engine("moonshine")) { server in
            let call = try await CallAPITests.createCall(server)
            #expect(try await CallAPITests.upload(server, call: call, filename: "legs.wav", content: try Self.twoLegs()).status == 202)
            #expect(try await Self.settled(server, call: call)["status"] as? String == "ready")
            let segments = try await Self.segments(server, call: call)
            let left = Self.text(segments, channel: 0).lowercased()
            let right = Self.text(segments, channel: 1).lowercased()
            #expect(left.contains("billing department") && left.contains("twice"), "left: \(left)")
            #expect(right.contains("check that") && right.contains("moment"), "right: \(right)")
            #expect(!left.contains("moment") && !right.contains("billing"), "left: \(left) right: \(right)")
        }
    }

    /// call30.wav streamed as a started PCM session with the hybrid engine: every chunk gets
    /// its transcript (pocketsphinx's partial), each closed segment a final (Moonshine's
    /// text) after the transcript of its last chunk, finals in order and covering the speech,
    /// and `stopped` after the last final.
    @Test func aHybridSessionSendsPartialsThenFinalsThenStopped() async throws {
        try await withServer(arguments: Self.engine("hybrid")) { server in
            let pcm = try TestPCM.load("call30.wav")
            let chunks = pcm.pcmChunks(ms: 100)
            var socket = try await TestWebSocket.connect(port: server.port)
            let started = try #require(try await socket.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
            #expect(started.kind == .started)
            for chunk in chunks { try await socket.sendChunk(chunk) }
            try await socket.sendText(#"{"type":"stop"}"#)

            var transcripts: [ServerMessage] = []
            var finals: [ServerMessage] = []
            var stopped: ServerMessage?
            while let message = try await socket.nextMessage(timeout: .seconds(60)) {
                switch message.kind {
                case .transcript: transcripts.append(message)
                case .final:
                    #expect(stopped == nil)
                    #expect((message.seqTo ?? .max) <= UInt64(transcripts.count), "final \(message) before its chunk's transcript")
                    finals.append(message)
                case .stopped: stopped = message
                case .ack: break
                default: Issue.record("unexpected \(message)")
                }
            }
            #expect(stopped?.chunks == chunks.count)
            #expect(transcripts.map(\.seq) == Array(1...UInt64(chunks.count)).map(Optional.some))
            #expect(transcripts.contains { !($0.transcription ?? "").isEmpty }, "no partial hypothesis at all")
            #expect(finals.count >= 5 && finals.count <= 8, "\(finals.count) finals")
            let froms = finals.compactMap(\.seqFrom)
            let tos = finals.compactMap(\.seqTo)
            #expect(froms == froms.sorted() && tos == tos.sorted() && zip(froms, tos).allSatisfy { $0 <= $1 })
            // The speech runs from 1.0 s to 26.0 s: chunks 10 to 261 of 100 ms.
            #expect((froms.first ?? 99) <= 11 && (tos.last ?? 0) >= 255, "\(froms) \(tos)")
            #expect(finals.allSatisfy { $0.channel == 0 && $0.words == nil })
            let heard = finals.compactMap(\.text).joined(separator: " ")
            let rate = WordErrorRate.of(hypothesis: heard, reference: try Self.call30Text())
            #expect(rate < 0.10, "WER \(rate): \(heard)")
        }
    }

    /// pocketsphinx alone: finals carry word times inside their segment.
    @Test func pocketsphinxFinalsHaveWordTimes() async throws {
        try await withServer(arguments: Self.engine("pocketsphinx")) { server in
            var pcm = try TestPCM.load("call30.wav")
            pcm.data = Array(pcm.data.prefix(pcm.rate * 2 * 9))
            let (_, session, _) = try await Self.streamCollectingFinals(server, pcm: pcm)
            #expect(session.stopped != nil)
            #expect(!session.finals.isEmpty)
            for final in session.finals {
                let words = final.words ?? []
                #expect(!words.isEmpty, "\(final)")
                for word in words {
                    #expect(word.startMs >= (final.startMs ?? 0) && word.endMs <= (final.endMs ?? 0) + 10 && word.startMs < word.endMs, "\(word)")
                }
            }
        }
    }

    /// A long tone, silence and noise: the engine writes no runaway text.
    @Test func toneAndNoiseMakeNoRunawayText() async throws {
        try await withServer(arguments: Self.engine("moonshine")) { server in
            let call = try await CallAPITests.createCall(server)
            #expect(try await CallAPITests.upload(server, call: call, filename: "tone.wav", content: Self.toneAndNoise()).status == 202)
            #expect(try await Self.settled(server, call: call)["status"] as? String == "ready")
            let answer = try await server.request("GET", "/calls/\(call)/transcript")
            let segments = answer.json["segments"] as? [[String: Any]] ?? []
            let words = Self.text(segments).split(separator: " ")
            #expect(words.count <= 2 * 20, "\(words)")
            var run = 1
            for (previous, word) in zip(words, words.dropFirst()) {
                run = previous == word ? run + 1 : 1
                #expect(run <= 2, "\(word) repeated: \(words)")
            }
        }
    }

    /// A real engine that cannot load stops the server's start with one line naming what is
    /// missing.
    @Test func anEngineThatCannotLoadStopsTheStart() async throws {
        let (status, output) = try await runProcess(
            Binaries.path("stream-server"),
            ["--port", "0", "--data-dir", FileManager.default.temporaryDirectory.appendingPathComponent("cs-\(UUID())").path]
                + ["--engine", "moonshine", "--moonshine-dir", "/nonexistent/moonshine"]
        )
        #expect(status != 0)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(output.contains("moonshine") && output.contains("/nonexistent/moonshine") && output.contains("make setup"), "\(output)")
    }

    // MARK: helpers

    struct FinalsSession {
        var transcripts: [ServerMessage] = []
        var finals: [ServerMessage] = []
        var stopped: ServerMessage?
    }

    static func streamCollectingFinals(_ server: TestServer, pcm: TestPCM) async throws -> (ServerMessage, FinalsSession, WebSocketErrorCode?) {
        var socket = try await TestWebSocket.connect(port: server.port)
        let started = try #require(try await socket.control(LiveSessionTests.start(codec: "pcm_s16le", pcm)))
        for chunk in pcm.pcmChunks(ms: 100) { try await socket.sendChunk(chunk) }
        try await socket.sendText(#"{"type":"stop"}"#)
        var session = FinalsSession()
        while let message = try await socket.nextMessage(timeout: .seconds(60)) {
            switch message.kind {
            case .transcript: session.transcripts.append(message)
            case .final: session.finals.append(message)
            case .stopped: session.stopped = message
            default: break
            }
        }
        return (started, session, nil)
    }

    /// A 16 kHz stereo WAV: the left leg says call30's first two sentences (0.5–8.4 s of
    /// it), then the right leg its fourth (12.6–16.6 s), the other leg quiet meanwhile.
    static func twoLegs() throws -> Data {
        let samples = try TestPCM.load("call30.wav").samples
        let rate = 16_000
        let left = Array(samples[(rate / 2)..<(rate * 84 / 10)])
        let right = Array(samples[(rate * 126 / 10)..<(rate * 166 / 10)])
        let length = left.count + right.count + rate
        var frames: [Int16] = []
        frames.reserveCapacity(length * 2)
        for index in 0..<length {
            frames.append(index < left.count ? left[index] : 0)
            let rightIndex = index - left.count - rate / 2
            frames.append(rightIndex >= 0 && rightIndex < right.count ? right[rightIndex] : 0)
        }
        return Self.wav(frames, rate: rate, channels: 2)
    }

    /// 5 s of silence, 10 s of a 440 Hz tone, 5 s of white noise.
    static func toneAndNoise() -> Data {
        let rate = 16_000
        var generator = SystemRandomNumberGenerator()
        let frames: [Int16] = (0..<(rate * 20)).map { index in
            let seconds = Double(index) / Double(rate)
            if seconds < 5 { return 0 }
            if seconds < 15 { return Int16(9_000 * sin(2 * .pi * 440 * seconds)) }
            return Int16.random(in: -6_000...6_000, using: &generator)
        }
        return Self.wav(frames, rate: rate, channels: 1)
    }

    static func wav(_ frames: [Int16], rate: Int, channels: Int) -> Data {
        var data = Data()
        func u32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ value: Int) { withUnsafeBytes(of: UInt16(value).littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8))
        u32(36 + frames.count * 2)
        data.append(contentsOf: Array("WAVEfmt ".utf8))
        u32(16)
        u16(1)
        u16(channels)
        u32(rate)
        u32(rate * channels * 2)
        u16(channels * 2)
        u16(16)
        data.append(contentsOf: Array("data".utf8))
        u32(frames.count * 2)
        for frame in frames { withUnsafeBytes(of: frame.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }
}
