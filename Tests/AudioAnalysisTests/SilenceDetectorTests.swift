import AudioAnalysis
import Foundation
import Testing

@Suite struct SilenceDetectorTests {
    struct Expected: Decodable {
        var duration_sec: Double
        var pydub_silence_ms: [[Int]]
    }

    static func expected() throws -> Expected {
        let url = AudioSnifferTests.audioDirectory.appendingPathComponent("call30.json")
        return try JSONDecoder().decode(Expected.self, from: Data(contentsOf: url))
    }

    /// The marks pydub found on call30.wav, within 30 ms at each edge, from the WAV at 16 kHz
    /// and at 8 kHz.
    @Test(arguments: ["call30.wav", "call30_8k.wav"])
    func marksAgreeWithPydub(name: String) throws {
        let expected = try Self.expected()
        let decoder = try WAVDecoder(path: AudioSnifferTests.audioDirectory.appendingPathComponent(name).path)
        var detector = SilenceDetector(sampleRate: decoder.header.sampleRate)
        let frames = try decoder.decodeMono { detector.append($0) }
        let marks = detector.finish()
        #expect(Double(frames) / Double(decoder.header.sampleRate) == expected.duration_sec)
        #expect(marks.count == expected.pydub_silence_ms.count, "\(marks)")
        for (mark, pair) in zip(marks, expected.pydub_silence_ms) {
            #expect(abs(mark.lowerBound - pair[0]) <= 30, "\(mark) vs \(pair)")
            #expect(abs(mark.upperBound - pair[1]) <= 30, "\(mark) vs \(pair)")
        }
    }

    @Test func shortAndAllSilentInputs() {
        var short = SilenceDetector(sampleRate: 1000)
        [Float](repeating: 0, count: 499).withUnsafeBufferPointer { short.append($0) }
        #expect(short.finish().isEmpty)
        var silent = SilenceDetector(sampleRate: 1000)
        [Float](repeating: 0, count: 2000).withUnsafeBufferPointer { silent.append($0) }
        #expect(silent.finish() == [0...2000])
        // A 100 ms burst in the middle of 2 s: silence on both sides, cut by the burst's windows.
        var burst = SilenceDetector(sampleRate: 1000)
        var samples = [Float](repeating: 0, count: 2000)
        for index in 1000..<1100 { samples[index] = 0.5 }
        samples.withUnsafeBufferPointer { burst.append($0) }
        #expect(burst.finish() == [0...1000, 1100...2000])
    }
}
