import AudioCodecs
import Foundation
import Testing

@Suite struct G711Tests {
    /// Every code decodes to a value that encodes back to it (μ-law's two zeros aside: +0 and
    /// -0 both decode to 0, which encodes as +0).
    @Test func everyMulawCodeRoundTrips() {
        for code in 0...255 where code != 0x7F {
            let linear = G711.mulawToLinear[code]
            #expect(G711.encodeMulaw(linear) == UInt8(code), "μ-law \(code) → \(linear)")
        }
        #expect(G711.mulawToLinear[0xFF] == 0 && G711.mulawToLinear[0x7F] == 0)
    }

    @Test func everyAlawCodeRoundTrips() {
        for code in 0...255 {
            let linear = G711.alawToLinear[code]
            #expect(G711.encodeAlaw(linear) == UInt8(code), "A-law \(code) → \(linear)")
        }
    }

    /// The reference values: full scale and the smallest steps (ITU-T G.711 tables).
    @Test func decodesTheStandardsExtremes() {
        #expect(G711.mulawToLinear[0x00] == -32124)
        #expect(G711.mulawToLinear[0x80] == 32124)
        #expect(G711.mulawToLinear[0xFE] == 8)
        #expect(G711.alawToLinear[0xD5] == 8)
        #expect(G711.alawToLinear[0x55] == -8)
        #expect(G711.alawToLinear[0xAA] == 32256)
    }

    /// Encoding then decoding keeps a sample within G.711's step size there.
    @Test func encodingIsCloseToTheSignal() {
        for sample in stride(from: -32768, through: 32767, by: 97) {
            let value = Int16(sample)
            let mu = Int(G711.mulawToLinear[Int(G711.encodeMulaw(value))])
            let a = Int(G711.alawToLinear[Int(G711.encodeAlaw(value))])
            let tolerance = max(abs(sample) / 16, 16)
            #expect(abs(mu - sample) <= tolerance, "μ-law \(sample) → \(mu)")
            #expect(abs(a - sample) <= tolerance, "A-law \(sample) → \(a)")
        }
    }
}

@Suite struct OpusTests {
    private static func tone(frames: Int, rate: Int, channels: Int, start: Int) -> [Int16] {
        (0..<frames * channels).map { index in
            let frame = start + index / channels
            return Int16(12000 * sin(2 * Double.pi * 440 * Double(frame) / Double(rate)))
        }
    }

    /// 20 ms packets at 16 kHz mono and 48 kHz stereo decode to 20 ms each, and the decoded
    /// tone has the energy of the original (Opus is lossy, not silent).
    @Test(arguments: [(16000, 1), (48000, 2), (8000, 1)])
    func packetsDecodeToTheirDuration(rate: Int, channels: Int) throws {
        let encoder = try OpusEncoder(sampleRate: rate, channels: channels)
        let decoder = try OpusDecoder(sampleRate: rate, channels: channels)
        let frames = rate / 50
        var output = [Int16](repeating: 0, count: decoder.maxFramesPerPacket * channels)
        var inputEnergy = 0.0
        var outputEnergy = 0.0
        for packetIndex in 0..<50 {
            let samples = Self.tone(frames: frames, rate: rate, channels: channels, start: packetIndex * frames)
            let packet = try encoder.encode(samples)
            let decoded = try packet.withUnsafeBytes { bytes in try output.withUnsafeMutableBufferPointer { try decoder.decode(bytes, into: $0) } }
            #expect(decoded == frames)
            if packetIndex >= 5 {
                inputEnergy += samples.reduce(0) { $0 + Double($1) * Double($1) }
                outputEnergy += output.prefix(decoded * channels).reduce(0) { $0 + Double($1) * Double($1) }
            }
        }
        let ratio = outputEnergy / inputEnergy
        #expect(ratio > 0.5 && ratio < 2, "energy ratio \(ratio)")
    }

    @Test func garbageAndEmptyPacketsAreRefused() throws {
        let decoder = try OpusDecoder(sampleRate: 16000, channels: 1)
        var output = [Int16](repeating: 0, count: decoder.maxFramesPerPacket)
        for packet in [[UInt8](), [0xFF, 0xFF, 0xFF], [UInt8](repeating: 0xFB, count: 2000)] {
            #expect(throws: OpusError.self) {
                try packet.withUnsafeBytes { bytes in try output.withUnsafeMutableBufferPointer { try decoder.decode(bytes, into: $0) } }
            }
        }
    }

    @Test func unsupportedRatesAreRefused() {
        #expect(throws: OpusError.self) { try OpusDecoder(sampleRate: 44100, channels: 1) }
    }
}
