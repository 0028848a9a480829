import Foundation
import SpeechRecognition
import Testing

@Suite struct EndpointerTests {
    static func segments(_ samples: [Float], chunk: Int = 320) -> [SpeechSegment] {
        var endpointer = Endpointer()
        var found: [SpeechSegment] = []
        var start = 0
        while start < samples.count {
            found += endpointer.append(samples[start..<min(samples.count, start + chunk)])
            start += chunk
        }
        if let last = endpointer.finish() { found.append(last) }
        return found
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
}
