/// An MPEG audio layer III frame header (MPEG 1, 2 and 2.5), enough to recognise an MP3 file
/// and step from frame to frame. Decoding itself is libmpg123's job.
public struct MP3FrameHeader: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    /// Bytes from this header to the next.
    public var frameLength: Int
    /// Audio frames (samples per channel) this frame decodes to: 1152 (MPEG 1) or 576.
    public var samplesPerFrame: Int

    private static let bitrates: [[Int]] = [
        // MPEG 1 layer III, then MPEG 2/2.5 layer III (kbit/s by index 1...14).
        [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ]
    private static let sampleRates: [[Int]] = [[44_100, 48_000, 32_000], [22_050, 24_000, 16_000], [11_025, 12_000, 8_000]]

    public init?(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        guard b0 == 0xFF, b1 & 0xE0 == 0xE0 else { return nil }
        let version = (b1 >> 3) & 0x3  // 0: 2.5, 2: 2, 3: 1
        let layer = (b1 >> 1) & 0x3  // 1: layer III
        let bitrateIndex = Int(b2 >> 4)
        let rateIndex = Int((b2 >> 2) & 0x3)
        guard version != 1, layer == 1, (1...14).contains(bitrateIndex), rateIndex != 3 else { return nil }
        let isMPEG1 = version == 3
        let bitrate = Self.bitrates[isMPEG1 ? 0 : 1][bitrateIndex - 1] * 1000
        self.sampleRate = Self.sampleRates[version == 3 ? 0 : (version == 2 ? 1 : 2)][rateIndex]
        self.channels = (b3 >> 6) == 3 ? 1 : 2
        let padding = Int((b2 >> 1) & 0x1)
        self.frameLength = (isMPEG1 ? 144 : 72) * bitrate / self.sampleRate + padding
        self.samplesPerFrame = isMPEG1 ? 1152 : 576
    }

    /// Where the audio starts: after any ID3v2 tag, the first frame header that is followed
    /// by another valid one (one lone header is too easily found in noise).
    /// Nil when no such frame is found in the first 64 KiB after the tag.
    public static func firstFrameOffset(read: (Int, Int) throws -> [UInt8]) rethrows -> Int? {
        var start = 0
        let id3 = try read(0, 10)
        if id3.count == 10, id3[0..<3].elementsEqual("ID3".utf8) {
            // Syncsafe size: 7 bits per byte; plus a 10-byte footer when flagged.
            let size = Int(id3[6]) << 21 | Int(id3[7]) << 14 | Int(id3[8]) << 7 | Int(id3[9])
            start = 10 + size + (id3[5] & 0x10 != 0 ? 10 : 0)
        }
        let window = try read(start, 64 * 1024 + 4)
        var index = 0
        while index + 4 <= window.count {
            if let header = MP3FrameHeader(window[index], window[index + 1], window[index + 2], window[index + 3]) {
                let next = try read(start + index + header.frameLength, 4)
                if next.count == 4, MP3FrameHeader(next[0], next[1], next[2], next[3]) != nil {
                    return start + index
                }
            }
            index += 1
        }
        return nil
    }
}
