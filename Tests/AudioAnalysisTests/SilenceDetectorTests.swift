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

@Suite struct MP3DecoderTests {
    @Test func theMP3sMarksAgreeWithPydub() throws {
        let expected = try SilenceDetectorTests.expected()
        let decoder = MP3Decoder(path: AudioSnifferTests.audioDirectory.appendingPathComponent("call30.mp3").path)
        var detector: SilenceDetector?
        let (rate, frames, _) = try decoder.decodeMono { rate, samples in
            if detector == nil { detector = SilenceDetector(sampleRate: rate) }
            detector!.append(samples)
        }
        #expect(rate == 16_000)
        #expect(abs(Double(frames) / Double(rate) - expected.duration_sec) < 0.05, "\(frames)")
        let marks = detector?.finish() ?? []
        #expect(marks.count == expected.pydub_silence_ms.count, "\(marks)")
        for (mark, pair) in zip(marks, expected.pydub_silence_ms) {
            #expect(abs(mark.lowerBound - pair[0]) <= 30, "\(mark) vs \(pair)")
            #expect(abs(mark.upperBound - pair[1]) <= 30, "\(mark) vs \(pair)")
        }
    }

    @Test func garbageIsAnError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID().uuidString).mp3").path
        _ = FileManager.default.createFile(atPath: path, contents: Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 3) }))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: MP3Decoder.Failure.self) { try MP3Decoder(path: path).decodeMono { _, _ in } }
    }
}
