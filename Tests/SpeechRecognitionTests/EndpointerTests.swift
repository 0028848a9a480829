import Foundation
import SpeechRecognition
import Testing

@Suite struct EndpointerTests {
    static func segments(_ samples: [Float], chunk: Int = 320) -> [SpeechSegment] {
        Self.segmentsAndPieces(samples, chunk: chunk, pieceSilenceMs: nil).segments
    }

    static func segmentsAndPieces(
        _ samples: [Float],
        chunk: Int = 320,
        pieceSilenceMs: Int?,
        minPieceMs: Int = Endpointer().minPieceMs
    ) -> (segments: [SpeechSegment], pieces: [SpeechPiece]) {
        var endpointer = Endpointer()
        endpointer.pieceSilenceMs = pieceSilenceMs
        endpointer.minPieceMs = minPieceMs
        var found: [SpeechSegment] = []
        var pieces: [SpeechPiece] = []
        var start = 0
        while start < samples.count {
            found += endpointer.append(samples[start..<min(samples.count, start + chunk)])
            pieces += endpointer.takePieces()
            start += chunk
        }
        if let last = endpointer.finish() { found.append(last) }
        return (found, pieces)
    }

    static func tone(ms: Int) -> [Float] {
        (0..<(ms * 16)).map { index in Float(0.3 * sin(Double(index) * 0.2)) }
    }

    @Test(arguments: ["call30.wav", "call30_8k.wav"])
    func findsTheSpeechSpansOfTheTestCall(name: String) throws {
        let found = Self.segments(try TestAudio.at16k(name))
        let spans = try TestAudio.call30Answers().spans
        #expect(found.map { [$0.startMs, $0.endMs] }.count == spans.count)
        for (segment, span) in zip(found, spans) {
            // Pre-roll widens a segment by at most 200 ms (plus a frame); the reference spans
            // end about 350 ms into the silence after the words, where ours keep 150 ms.
            #expect(segment.startMs <= span.0 + 20 && segment.startMs >= span.0 - 220, "\(segment.startMs) vs \(span)")
            #expect(segment.endMs >= span.1 - 400 && segment.endMs <= span.1 + 170, "\(segment.endMs) vs \(span)")
            #expect(segment.samples.count == segment.endSample - segment.startSample)
        }
    }

    @Test func silenceAndAQuietHumMakeNoSegments() {
        let hum: [Float] = (0..<(16_000 * 5)).map { index in Float(0.002 * sin(Double(index) * 0.3)) }
        #expect(Self.segments([Float](repeating: 0, count: 16_000 * 5)).isEmpty)
        #expect(Self.segments(hum).isEmpty)
    }

    @Test func longSpeechIsCutAtTheLimit() {
        // 45 s of uninterrupted "speech" (a loud tone) is cut into 20 s segments (until the
        // floor learns it is background).
        let loud: [Float] = (0..<(16_000 * 45)).map { index in Float(0.3 * sin(Double(index) * 0.2)) }
        let found = Self.segments(loud)
        let lengths: [Int] = found.map { segment in segment.endMs - segment.startMs }
        #expect(found.count >= 2)
        #expect(found.first?.startMs == 0)
        #expect(lengths.first == 20_000)
        #expect(lengths.allSatisfy { $0 <= 20_000 })
    }

    /// With 1 s pieces, the pauses after "Good afternoon," and "very much," (170–190 ms) cut
    /// sentences in two; with the default 2.5 s, each sentence is one piece, cut as it ends.
    @Test(arguments: [1_000, 2_500])
    func piecesTileTheirSegmentsAndLeaveThemAsTheyWere(minPieceMs: Int) throws {
        let audio = try TestAudio.at16k("call30.wav")
        let plain = Self.segments(audio)
        let (segments, pieces) = Self.segmentsAndPieces(audio, pieceSilenceMs: 100, minPieceMs: minPieceMs)
        #expect(segments.map { [$0.startSample, $0.endSample] } == plain.map { [$0.startSample, $0.endSample] })
        for segment in segments {
            let own = pieces.filter { $0.segmentStart == segment.startSample }
            // Every sentence of the call is over 2.5 s long and followed by silence: its last
            // piece is cut 100 ms after its last word, and nothing is left to decode.
            #expect(!own.isEmpty)
            #expect(segment.speechAfterPieces == false)
            var next = segment.startSample
            for piece in own {
                #expect(piece.startSample == next)
                #expect(piece.samples.count >= 16 * minPieceMs)
                #expect(Array(segment.samples[(piece.startSample - segment.startSample)...].prefix(piece.samples.count)) == piece.samples)
                next = piece.startSample + piece.samples.count
            }
            #expect(segment.piecesEnd == next)
            #expect(next <= segment.endSample)
        }
        if minPieceMs == 1_000 {
            #expect(Set(pieces.map(\.segmentStart)).count < pieces.count)
        } else {
            #expect(pieces.count == segments.count)
        }
    }

    @Test func speechAfterTheLastPieceIsLeftForTheSegment() {
        let quiet = [Float](repeating: 0, count: 16 * 500)
        let audio = quiet + Self.tone(ms: 3_000) + [Float](repeating: 0, count: 16 * 150) + Self.tone(ms: 500) + quiet
        let (segments, pieces) = Self.segmentsAndPieces(audio, pieceSilenceMs: 100)
        #expect(segments.count == 1)
        // The half second after the pause is too short for a piece of its own.
        #expect(pieces.count == 1)
        guard let segment = segments.first, let piece = pieces.first else { return }
        #expect(piece.segmentStart == segment.startSample)
        #expect(segment.piecesEnd == piece.startSample + piece.samples.count)
        #expect(segment.speechAfterPieces)
        // The piece ends 100 ms into the pause.
        #expect(abs(segment.piecesEnd! - (16 * 3_600)) <= 160)
    }
}
