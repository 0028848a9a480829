/// The parts of a RIFF/WAVE header needed to decode it: the `fmt ` chunk and where the
/// `data` chunk starts. Accepts integer PCM (8, 16, 24, 32 bit), IEEE float (32, 64 bit),
/// and WAVE_FORMAT_EXTENSIBLE wrapping either; 1–8 channels; any positive rate.
public struct WAVHeader: Sendable, Equatable {
    public enum SampleFormat: Sendable, Equatable {
        case integer(bits: Int)
        case float(bits: Int)
    }

    public var format: SampleFormat
    public var channels: Int
    public var sampleRate: Int
    /// Bytes per frame (one sample of every channel).
    public var blockAlign: Int
    /// Offset of the first sample byte.
    public var dataOffset: Int
    /// Length the `data` chunk declares (a truncated file has fewer bytes).
    public var declaredDataLength: Int

    public var bytesPerSample: Int {
        switch self.format {
        case .integer(let bits), .float(let bits): bits / 8
        }
    }

    /// Reads the header from the start of a file. `read(offset, count)` returns up to `count`
    /// bytes at `offset` (fewer at the end of the file). Nil when this is not a WAV file we
    /// can decode.
    public static func parse(read: (Int, Int) throws -> [UInt8]) rethrows -> WAVHeader? {
        let riff = try read(0, 12)
        guard riff.count == 12, riff[0..<4].elementsEqual("RIFF".utf8), riff[8..<12].elementsEqual("WAVE".utf8) else { return nil }
        var offset = 12
        var fmt: (format: SampleFormat, channels: Int, rate: Int, blockAlign: Int)?
        // Walk the chunks: `fmt ` must come before `data`; others (LIST, fact, …) are skipped.
        for _ in 0..<64 {
            let header = try read(offset, 8)
            guard header.count == 8 else { return nil }
            let size = Int(littleEndian32(header, 4))
            let body = offset + 8
            if header[0..<4].elementsEqual("fmt ".utf8) {
                guard size >= 16 else { return nil }
                fmt = Self.parseFormat(try read(body, min(size, 40)))
                guard fmt != nil else { return nil }
            } else if header[0..<4].elementsEqual("data".utf8) {
                guard let fmt else { return nil }
                return WAVHeader(
                    format: fmt.format,
                    channels: fmt.channels,
                    sampleRate: fmt.rate,
                    blockAlign: fmt.blockAlign,
                    dataOffset: body,
                    declaredDataLength: size
                )
            }
            offset = body + size + (size & 1)  // chunks are padded to even lengths
        }
        return nil
    }

    private static func parseFormat(_ bytes: [UInt8]) -> (format: SampleFormat, channels: Int, rate: Int, blockAlign: Int)? {
        guard bytes.count >= 16 else { return nil }
        var tag = Int(littleEndian16(bytes, 0))
        let channels = Int(littleEndian16(bytes, 2))
        let rate = Int(littleEndian32(bytes, 4))
        let blockAlign = Int(littleEndian16(bytes, 12))
        let bits = Int(littleEndian16(bytes, 14))
        if tag == 0xFFFE {
            // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
            guard bytes.count >= 26 else { return nil }
            tag = Int(littleEndian16(bytes, 24))
        }
        let format: SampleFormat
        switch (tag, bits) {
        case (1, 8), (1, 16), (1, 24), (1, 32): format = .integer(bits: bits)
        case (3, 32), (3, 64): format = .float(bits: bits)
        default: return nil
        }
        guard (1...8).contains(channels), rate > 0, blockAlign == channels * bits / 8 else { return nil }
        return (format, channels, rate, blockAlign)
    }
}

func littleEndian16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
    UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
}

func littleEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
}
