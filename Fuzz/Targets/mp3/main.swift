// The MP3 path: frame headers (the upload check counts them for the duration limit) and the
// worker's libmpg123 decoding.
import AudioAnalysis
import FuzzDriver

fuzz { input in
    let bytes = [UInt8](input)
    let read: (Int, Int) -> [UInt8] = { offset, count in
        guard offset >= 0, count >= 0, offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }
    if bytes.count >= 4 { _ = MP3FrameHeader(bytes[0], bytes[1], bytes[2], bytes[3]) }
    _ = MP3FrameHeader.firstFrameOffset(read: read)
    _ = AudioDuration.seconds(read: read, size: bytes.count, atMost: 60)
    withTemporaryFile(input) { path in
        _ = try? MP3Decoder(path: path).decodeMono { _, samples in
            for sample in samples { precondition(sample.isFinite) }
        }
    }
}
