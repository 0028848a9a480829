import COpus

/// What libopus said when it refused something.
public struct OpusError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public var description: String { String(cString: opus_strerror(self.code)) }
}

/// One stream's libopus decoder: packets in, 16-bit interleaved PCM out. Not thread-safe (one
/// stream's packets are decoded in order by one worker).
public final class OpusDecoder {
    private let decoder: OpaquePointer
    public let sampleRate: Int
    public let channels: Int

    /// `sampleRate` must be one of 8, 12, 16, 24 or 48 kHz; `channels` 1 or 2.
    public init(sampleRate: Int, channels: Int) throws(OpusError) {
        var error: Int32 = 0
        guard let decoder = opus_decoder_create(opus_int32(sampleRate), Int32(channels), &error), error == OPUS_OK else {
            throw OpusError(code: error == OPUS_OK ? OPUS_ALLOC_FAIL : error)
        }
        self.decoder = decoder
        self.sampleRate = sampleRate
        self.channels = channels
    }

    deinit {
        opus_decoder_destroy(self.decoder)
    }

    /// The most frames one packet can hold: 120 ms.
    public var maxFramesPerPacket: Int { self.sampleRate * 120 / 1000 }

    /// Decodes one whole packet into `output` (native-endian 16-bit samples, which is little-endian
    /// on every platform we build for) and returns its frame count. An empty packet is refused:
    /// libopus would read it as a lost packet and invent audio.
    public func decode(_ packet: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<Int16>) throws(OpusError) -> Int {
        guard packet.count > 0, let base = packet.baseAddress, let pcm = output.baseAddress else { throw OpusError(code: OPUS_INVALID_PACKET) }
        let frames = opus_decode(
            self.decoder,
            base.assumingMemoryBound(to: UInt8.self),
            opus_int32(packet.count),
            pcm,
            Int32(output.count / self.channels),
            0
        )
        guard frames >= 0 else { throw OpusError(code: frames) }
        return Int(frames)
    }
}

/// A libopus encoder (VoIP mode, default bitrate) for the load client and the tests.
public final class OpusEncoder {
    private let encoder: OpaquePointer
    public let channels: Int

    public init(sampleRate: Int, channels: Int) throws(OpusError) {
        var error: Int32 = 0
        guard let encoder = opus_encoder_create(opus_int32(sampleRate), Int32(channels), OPUS_APPLICATION_VOIP, &error), error == OPUS_OK else {
            throw OpusError(code: error == OPUS_OK ? OPUS_ALLOC_FAIL : error)
        }
        self.encoder = encoder
        self.channels = channels
    }

    deinit {
        opus_encoder_destroy(self.encoder)
    }

    /// Encodes exactly one frame of interleaved samples (2.5, 5, 10, 20, 40 or 60 ms) into one packet.
    public func encode(_ samples: [Int16]) throws(OpusError) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: 4000)
        let frames = samples.count / self.channels
        let capacity = packet.count
        let count = samples.withUnsafeBufferPointer { pcm -> Int32 in
            guard let base = pcm.baseAddress else { return OPUS_BAD_ARG }
            return opus_encode(self.encoder, base, Int32(frames), &packet, opus_int32(capacity))
        }
        guard count > 0 else { throw OpusError(code: count) }
        return Array(packet.prefix(Int(count)))
    }
}
