import NIOCore
import Protocol

/// Decodes the chunks of started live sessions to 16-bit little-endian PCM (a valid pcm_s16le
/// chunk is only checked: the server records its own copy), keeping each
/// session's codec state (an Opus decoder) between its chunks. A session's chunks all come to
/// this worker in seq order; after a worker crash the replacement rebuilds the state from the
/// chunks it is replayed. (In this library, not the worker, so the fuzzers run it too.)
public struct SessionDecoders {
    /// Why a chunk could not be decoded; `code` is what the client sees.
    public struct Failure: Error {
        public var code: String
        public var message: String
    }

    private var opus: [UInt64: OpusDecoder] = [:]
    private var scratch: [Int16] = []

    /// Forgets a session's state (it ended).
    public init() {}

    public mutating func end(clientID: UInt64) {
        self.opus.removeValue(forKey: clientID)
    }

    public mutating func decode(clientID: UInt64, format: StreamFormat, audio: ByteBuffer, into pcm: inout ByteBuffer) throws(Failure) {
        let channels = max(format.channels, 1)
        switch format.codec {
        case .pcmS16LE:
            guard audio.readableBytes % (2 * channels) == 0 else {
                throw Failure(
                    code: "invalid_chunk",
                    message:
                        "a pcm_s16le chunk must be a whole number of frames (\(2 * channels) bytes each); this one has \(audio.readableBytes) bytes"
                )
            }
        // Already PCM: the server records the chunk it holds; no copy goes back.
        case .mulaw, .alaw:
            guard audio.readableBytes % channels == 0 else {
                throw Failure(
                    code: "invalid_chunk",
                    message:
                        "a \(format.codec.name) chunk must be a whole number of frames (\(channels) bytes each); this one has \(audio.readableBytes) bytes"
                )
            }
            let table = format.codec == .mulaw ? G711.mulawToLinear : G711.alawToLinear
            pcm.reserveCapacity(minimumWritableBytes: audio.readableBytes * 2)
            audio.withUnsafeReadableBytes { bytes in
                for byte in bytes {
                    pcm.writeInteger(table[Int(byte)], endianness: .little)
                }
            }
        case .opus:
            let decoder = try self.opusDecoder(clientID: clientID, format: format)
            let capacity = decoder.maxFramesPerPacket * channels
            if self.scratch.count < capacity { self.scratch = [Int16](repeating: 0, count: capacity) }
            let frames: Int
            do {
                frames = try audio.withUnsafeReadableBytes { packet throws(OpusError) in
                    try self.scratch.withUnsafeMutableBufferPointer { output throws(OpusError) in try decoder.decode(packet, into: output) }
                }
            } catch {
                throw Failure(code: "invalid_audio", message: "not a decodable Opus packet (libopus: \(error))")
            }
            self.scratch.withUnsafeBytes { bytes in
                _ = pcm.writeBytes(UnsafeRawBufferPointer(rebasing: bytes.prefix(frames * channels * 2)))
            }
        }
    }

    private mutating func opusDecoder(clientID: UInt64, format: StreamFormat) throws(Failure) -> OpusDecoder {
        if let decoder = self.opus[clientID] { return decoder }
        do {
            let decoder = try OpusDecoder(sampleRate: format.sampleRate, channels: format.channels)
            self.opus[clientID] = decoder
            return decoder
        } catch {
            throw Failure(
                code: "invalid_audio",
                message: "cannot decode Opus at \(format.sampleRate) Hz, \(format.channels) channels (libopus: \(error))"
            )
        }
    }
}
