import Foundation

/// Reads a WAV file's samples as mono floats in [-1, 1) (channels averaged, as pydub's
/// `set_channels(1)` does), a block at a time: memory stays bounded whatever the length. A
/// file cut short ends where its data does.
public struct WAVDecoder {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let header: WAVHeader
    private let handle: FileHandle

    public init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Failure(description: "cannot open \(path)") }
        self.handle = handle
        let read: (Int, Int) throws -> [UInt8] = { offset, count in
            try handle.seek(toOffset: UInt64(offset))
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        }
        guard let header = try WAVHeader.parse(read: read) else { throw Failure(description: "not a WAV file we can decode") }
        self.header = header
    }

    /// Feeds every frame to `body` in blocks, all channels averaged, or only `channel` (0 is
    /// the first); returns the number of frames.
    @discardableResult
    public func decodeMono(channel: Int? = nil, blockFrames: Int = 32_768, _ body: (UnsafeBufferPointer<Float>) throws -> Void) throws -> Int {
        let header = self.header
        let picked = channel.map { min($0, header.channels - 1)..<(min($0, header.channels - 1) + 1) } ?? 0..<header.channels
        var mono = [Float](repeating: 0, count: blockFrames)
        return try self.forEachBlock(blockFrames: blockFrames) { raw, count in
            Self.mix(raw, frames: count, header: header, picking: picked, into: &mono)
            try mono.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    /// Feeds every frame to `body` in blocks as one float buffer per entry of `groups`, each
    /// the average of its channels (`[0..<1, 1..<2]`: a stereo file's two sides); returns the
    /// number of frames.
    @discardableResult
    public func decode(groups: [Range<Int>], blockFrames: Int = 32_768, _ body: ([ArraySlice<Float>]) throws -> Void) throws -> Int {
        let header = self.header
        var buffers = groups.map { _ in [Float](repeating: 0, count: blockFrames) }
        return try self.forEachBlock(blockFrames: blockFrames) { raw, count in
            for (index, group) in groups.enumerated() {
                Self.mix(raw, frames: count, header: header, picking: group.clamped(to: 0..<header.channels), into: &buffers[index])
            }
            try body(buffers.map { $0[0..<count] })
        }
    }

    /// Reads the data chunk a block of whole frames at a time.
    private func forEachBlock(blockFrames: Int, _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws -> Int {
        let header = self.header
        try self.handle.seek(toOffset: UInt64(header.dataOffset))
        var remaining = header.declaredDataLength - header.declaredDataLength % header.blockAlign
        var frames = 0
        var carry = Data()
        while remaining > 0 {
            guard let chunk = try self.handle.read(upToCount: min(remaining, blockFrames * header.blockAlign) - carry.count), !chunk.isEmpty else {
                break  // truncated: the data ends early
            }
            var bytes = carry
            bytes.append(chunk)
            let count = bytes.count / header.blockAlign
            carry = bytes.suffix(from: bytes.startIndex + count * header.blockAlign)
            remaining -= count * header.blockAlign
            try bytes.withUnsafeBytes { raw in try body(raw, count) }
            frames += count
        }
        return frames
    }

    /// Averages the `picked` channels of each frame.
    private static func mix(_ raw: UnsafeRawBufferPointer, frames: Int, header: WAVHeader, picking picked: Range<Int>, into mono: inout [Float]) {
        let channels = header.channels
        let scale = 1 / Float(picked.count)
        switch header.format {
        case .integer(bits: 16):
            mixInt16(raw, frames: frames, channels: channels, picking: picked, into: &mono)
        case .integer(bits: 8):
            for frame in 0..<frames {
                var sum: Float = 0
                for channel in picked { sum += Float(Int(raw[frame * channels + channel]) - 128) }
                mono[frame] = sum * scale / 128
            }
        case .integer(bits: 24):
            for frame in 0..<frames {
                var sum: Float = 0
                for channel in picked {
                    let at = (frame * channels + channel) * 3
                    let value = Int32(bitPattern: UInt32(raw[at]) << 8 | UInt32(raw[at + 1]) << 16 | UInt32(raw[at + 2]) << 24) >> 8
                    sum += Float(value)
                }
                mono[frame] = sum * scale / 8_388_608
            }
        case .integer:
            for frame in 0..<frames {
                var sum: Float = 0
                for channel in picked {
                    sum += Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: (frame * channels + channel) * 4, as: Int32.self)))
                }
                mono[frame] = sum * scale / 2_147_483_648
            }
        case .float(bits: 32):
            for frame in 0..<frames {
                var sum: Float = 0
                for channel in picked {
                    sum += Float(
                        bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (frame * channels + channel) * 4, as: UInt32.self))
                    )
                }
                mono[frame] = sum * scale
            }
        case .float:
            for frame in 0..<frames {
                var sum: Double = 0
                for channel in picked {
                    sum += Double(
                        bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: (frame * channels + channel) * 8, as: UInt64.self))
                    )
                }
                mono[frame] = Float(sum) * scale
            }
        }
    }
}

/// Interleaved signed 16-bit little-endian frames (WAV, and libmpg123's output), their
/// `picked` channels averaged to mono floats in [-1, 1).
func mixInt16(_ raw: UnsafeRawBufferPointer, frames: Int, channels: Int, picking picked: Range<Int>, into mono: inout [Float]) {
    let scale = 1 / Float(picked.count)
    for frame in 0..<frames {
        var sum: Float = 0
        for channel in picked {
            sum += Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: (frame * channels + channel) * 2, as: Int16.self)))
        }
        mono[frame] = sum * scale / 32768
    }
}
