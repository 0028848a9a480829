import AudioAnalysis
import Foundation
import Testing

@Suite struct AudioSnifferTests {
    static let audioDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/audio")

    static func reader(_ bytes: [UInt8]) -> (Int, Int) -> [UInt8] {
        { offset, count in
            guard offset < bytes.count else { return [] }
            return Array(bytes[offset..<min(bytes.count, offset + count)])
        }
    }

    static func file(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.audioDirectory.appendingPathComponent(name)))
    }

    @Test(arguments: [("call30.wav", 1, 16_000), ("call30_8k.wav", 1, 8000), ("call8_stereo44k.wav", 2, 44_100)])
    func wavHeadersOfTheTestRecordings(name: String, channels: Int, rate: Int) throws {
        let bytes = try Self.file(name)
        let header = try #require(WAVHeader.parse(read: Self.reader(bytes)))
        #expect(header.channels == channels)
        #expect(header.sampleRate == rate)
        #expect(header.format == .integer(bits: 16))
        #expect(header.dataOffset + header.declaredDataLength == bytes.count)
        #expect(AudioSniffer.sniff(read: Self.reader(bytes)) == .wav)
    }

    @Test func theMP3IsRecognised() throws {
        let bytes = try Self.file("call30.mp3")
        #expect(AudioSniffer.sniff(read: Self.reader(bytes)) == .mp3)
        let offset = try #require(MP3FrameHeader.firstFrameOffset(read: Self.reader(bytes)))
        let header = try #require(MP3FrameHeader(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]))
        #expect(header.sampleRate == 16_000)
    }

    /// A float WAV with WAVE_FORMAT_EXTENSIBLE and a LIST chunk before `fmt `.
    @Test func extensibleFloatWithExtraChunks() {
        var bytes: [UInt8] = Array("RIFF".utf8) + le32(0) + Array("WAVE".utf8)
        bytes += Array("LIST".utf8) + le32(3) + [1, 2, 3, 0]  // odd size, padded
        bytes += Array("fmt ".utf8) + le32(40)
        bytes += le16(0xFFFE) + le16(6) + le32(48_000) + le32(48_000 * 24) + le16(24) + le16(32)
        bytes += le16(22) + le16(32) + le32(0x3F) + le16(3) + [UInt8](repeating: 0, count: 14)
        bytes += Array("data".utf8) + le32(24) + [UInt8](repeating: 0, count: 24)
        let header = WAVHeader.parse(read: Self.reader(bytes))
        #expect(header?.format == .float(bits: 32))
        #expect(header?.channels == 6)
        #expect(header?.dataOffset == bytes.count - 24)
    }

    @Test func thingsThatAreNotAudio() throws {
        let wav = try Self.file("call30_8k.wav")
        var nineChannels = wav
        nineChannels[22] = 9
        var adpcm = wav
        adpcm[20] = 2
        let noise = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        for bytes in [Array("hello".utf8), Array(wav.prefix(40)), nineChannels, adpcm, noise, []] {
            #expect(AudioSniffer.sniff(read: Self.reader(bytes)) == nil)
        }
    }
}

private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
