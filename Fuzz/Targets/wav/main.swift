// WAV headers (the upload check reads them, with the duration limit) and the worker's WAV
// decoder: any bytes give a header or nil, a duration or nil, audio or an error.
import AudioAnalysis
import FuzzDriver

fuzz { input in
    let bytes = [UInt8](input)
    let read: (Int, Int) -> [UInt8] = { offset, count in
        guard offset >= 0, count >= 0, offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }
    _ = WAVHeader.parse(read: read)
    _ = AudioSniffer.sniff(read: read)
    _ = AudioDuration.seconds(read: read, size: bytes.count, atMost: 60)
    withTemporaryFile(input) { path in
        guard let decoder = try? WAVDecoder(path: path) else { return }
        _ = try? decoder.decodeMono(blockFrames: 1024) { samples in
            for sample in samples { precondition(sample.isFinite) }
        }
    }
}
