import AudioCodecs
import Foundation
import NIOCore

/// A WAV file cut into a started session's chunks, encoded once for every connection: the
/// messages, and where each chunk's audio must lie in the stream (`start_ms`/`end_ms`).
struct SessionAudio: Sendable {
    let codec: String
    let sampleRate: Int
    let channels: Int
    /// The chunks, shared by every session (sending copies them only to mask them).
    let messages: [ByteBuffer]
    /// Frames (samples per channel) in each chunk as the server decodes it.
    let frames: [Int]

    var totalBytes: Int64 { self.messages.reduce(0) { $0 + Int64($1.readableBytes) } }
    var totalFrames: Int64 { self.frames.reduce(0) { $0 + Int64($1) } }

    /// The span of chunk `index`, as the server computes it (milliseconds, rounded down).
    func span(_ index: Int, framesBefore: Int64) -> ClosedRange<Int64> {
        let start = framesBefore * 1000 / Int64(self.sampleRate)
        let end = (framesBefore + Int64(self.frames[index])) * 1000 / Int64(self.sampleRate)
        return start...end
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads a 16-bit PCM WAV and encodes it as `codec` in `chunkMs` chunks (Opus: one packet
    /// each, the last frame padded with silence).
    static func load(path: String, codec: String, chunkMs: Int) throws -> SessionAudio {
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u16(_ at: Int) -> Int { Int(file[at]) | Int(file[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        guard file.count >= 12, file[0..<4].elementsEqual("RIFF".utf8), file[8..<12].elementsEqual("WAVE".utf8) else {
            throw Failure(description: "\(path) is not a WAV file")
        }
        var offset = 12
        var rate = 0
        var channels = 0
        var bits = 0
        var data: ArraySlice<UInt8>?
        while offset + 8 <= file.count, data == nil {
            let size = u32(offset + 4)
            switch String(decoding: file[offset..<offset + 4], as: UTF8.self) {
            case "fmt ":
                channels = u16(offset + 10)
                rate = u32(offset + 12)
                bits = u16(offset + 22)
            case "data":
                data = file[(offset + 8)..<min(offset + 8 + size, file.count)]
            default:
                break
            }
            offset += 8 + size + size % 2
        }
        guard let data, bits == 16, (1...2).contains(channels), rate > 0 else {
            throw Failure(description: "\(path) must be a 16-bit PCM WAV with 1 or 2 channels")
        }
        let samples = stride(from: data.startIndex, to: data.endIndex - 1, by: 2).map {
            Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8)
        }
        let step = rate * chunkMs / 1000 * channels
        guard step > 0 else { throw Failure(description: "--chunk-ms is too short for \(rate) Hz") }
        var chunks: [[UInt8]] = []
        var frames: [Int] = []
        let encoder = codec == "opus" ? try OpusEncoder(sampleRate: rate, channels: channels) : nil
        for start in stride(from: 0, to: samples.count, by: step) {
            var piece = Array(samples[start..<min(start + step, samples.count)])
            switch codec {
            case "pcm_s16le":
                chunks.append(piece.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
            case "mulaw":
                chunks.append(piece.map(G711.encodeMulaw))
            case "alaw":
                chunks.append(piece.map(G711.encodeAlaw))
            case "opus":
                piece += [Int16](repeating: 0, count: step - piece.count)
                guard let encoder else { throw Failure(description: "no Opus encoder") }
                chunks.append(try encoder.encode(piece))
            default:
                throw Failure(description: "unknown codec \(codec)")
            }
            frames.append(piece.count / channels)
        }
        return SessionAudio(
            codec: codec,
            sampleRate: rate,
            channels: channels,
            messages: chunks.map { ByteBuffer(bytes: $0) },
            frames: frames
        )
    }
}
