import AudioAnalysis
import Foundation
import Testing

/// Every WAV layout the API accepts decodes to the same audio: call30_8k.wav re-encoded as
/// 8-bit, 24-bit, 32-bit integer, 32- and 64-bit float, stereo, and 6-channel extensible
/// gives the same duration and (within 30 ms) the same silences as the 16-bit original.
@Suite struct WAVFormatTests {
    enum Encoding: String, CaseIterable, Sendable {
        case pcm8, pcm24, pcm32, float32, float64, stereo16, extensible6x24
    }

    static func samples() throws -> (rate: Int, samples: [Float]) {
        let decoder = try WAVDecoder(path: AudioSnifferTests.audioDirectory.appendingPathComponent("call30_8k.wav").path)
        var samples: [Float] = []
        try decoder.decodeMono { samples.append(contentsOf: $0) }
        return (decoder.header.sampleRate, samples)
    }

    static func marks(path: String) throws -> (Double, [ClosedRange<Int>]) {
        let decoder = try WAVDecoder(path: path)
        var detector = SilenceDetector(sampleRate: decoder.header.sampleRate)
        let frames = try decoder.decodeMono { detector.append($0) }
        return (Double(frames) / Double(decoder.header.sampleRate), detector.finish())
    }

    static func wav(_ encoding: Encoding, rate: Int, samples: [Float]) -> Data {
        let (tag, channels, bits): (UInt16, Int, Int) =
            switch encoding {
            case .pcm8: (1, 1, 8)
            case .pcm24: (1, 1, 24)
            case .pcm32: (1, 1, 32)
            case .float32: (3, 1, 32)
            case .float64: (3, 1, 64)
            case .stereo16: (1, 2, 16)
            case .extensible6x24: (0xFFFE, 6, 24)
            }
        var data = Data()
        for sample in samples {
            for _ in 0..<channels {
                switch bits {
                case 8: data.append(UInt8(clamping: Int((sample * 128).rounded()) + 128))
                case 16: data.append(contentsOf: le(UInt64(UInt16(bitPattern: Int16(clamping: Int((sample * 32768).rounded())))), 2))
                case 24: data.append(contentsOf: le(UInt64(UInt32(bitPattern: Int32(clamping: Int((sample * 8_388_608).rounded())))), 3))
                case 32 where tag == 3: data.append(contentsOf: le(UInt64(sample.bitPattern), 4))
                case 32: data.append(contentsOf: le(UInt64(UInt32(bitPattern: Int32(clamping: Int((Double(sample) * 2_147_483_648).rounded())))), 4))
                default: data.append(contentsOf: le(Double(sample).bitPattern, 8))
                }
            }
        }
        let blockAlign = channels * bits / 8
        var fmt = le(UInt64(tag), 2) + le(UInt64(channels), 2) + le(UInt64(rate), 4) + le(UInt64(rate * blockAlign), 4)
        fmt += le(UInt64(blockAlign), 2) + le(UInt64(bits), 2)
        if tag == 0xFFFE {
            // cbSize 22, valid bits, channel mask, then the PCM sub-format GUID.
            fmt += le(22, 2) + le(UInt64(bits), 2) + le(0x3F, 4) + le(1, 2) + [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]
        }
        var file = Data("RIFF".utf8) + le(UInt64(4 + 8 + fmt.count + 8 + data.count), 4) + Data("WAVE".utf8)
        file += Data("fmt ".utf8) + le(UInt64(fmt.count), 4) + fmt
        file += Data("data".utf8) + le(UInt64(data.count), 4) + data
        return file
    }

    @Test(arguments: Encoding.allCases)
    func everyLayoutDecodesToTheSameAudio(_ encoding: Encoding) throws {
        let (rate, samples) = try Self.samples()
        let reference = try Self.marks(path: AudioSnifferTests.audioDirectory.appendingPathComponent("call30_8k.wav").path)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wav-\(encoding)-\(UUID().uuidString).wav").path
        #expect(FileManager.default.createFile(atPath: path, contents: Self.wav(encoding, rate: rate, samples: samples)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(AudioSniffer.sniff(read: AudioSnifferTests.reader(bytes)) == .wav)
        let (duration, marks) = try Self.marks(path: path)
        #expect(duration == reference.0)
        #expect(marks.count == reference.1.count, "\(marks)")
        for (mark, want) in zip(marks, reference.1) {
            #expect(abs(mark.lowerBound - want.lowerBound) <= 30 && abs(mark.upperBound - want.upperBound) <= 30, "\(mark) vs \(want)")
        }
    }
}

private func le(_ value: UInt64, _ bytes: Int) -> Data {
    Data((0..<bytes).map { UInt8((value >> (8 * UInt64($0))) & 0xFF) })
}
