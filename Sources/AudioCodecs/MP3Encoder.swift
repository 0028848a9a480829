import CMp3Lame

/// What libmp3lame refused.
public struct MP3EncoderError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// libmp3lame at a constant bitrate: float samples (-1…1) of one or two channels in, MP3
/// frames out. Stereo sources stay stereo (joint stereo). Not thread-safe.
public final class MP3Encoder {
    private let lame: OpaquePointer
    public let channels: Int
    private var output: [UInt8]

    /// `bitrateKbps` is rounded by libmp3lame to the nearest its MPEG version allows at the
    /// rate (8–64 kbps for 8 kHz, up to 320 at 32–48 kHz).
    public init(sampleRate: Int, channels: Int, bitrateKbps: Int) throws(MP3EncoderError) {
        guard channels == 1 || channels == 2 else { throw MP3EncoderError(description: "MP3 carries one or two channels, not \(channels)") }
        guard let lame = lame_init() else { throw MP3EncoderError(description: "lame_init failed") }
        self.lame = lame
        self.channels = channels
        self.output = []
        lame_set_in_samplerate(lame, Int32(sampleRate))
        // The recording's own rate where MP3 has it (libmp3lame would pick a lower one for low
        // bitrates); others are resampled to the nearest.
        if Self.sampleRates.contains(sampleRate) { lame_set_out_samplerate(lame, Int32(sampleRate)) }
        // The Info tag: players and decoders (mpg123) then trim the encoder's delay and padding.
        lame_set_bWriteVbrTag(lame, 1)
        lame_set_num_channels(lame, Int32(channels))
        lame_set_mode(lame, channels == 2 ? JOINT_STEREO : MONO)
        lame_set_brate(lame, Int32(bitrateKbps))
        lame_set_quality(lame, 5)
        lame_set_write_id3tag_automatic(lame, 0)
        guard lame_init_params(lame) >= 0 else {
            lame_close(lame)
            throw MP3EncoderError(description: "libmp3lame refused \(sampleRate) Hz, \(channels) channels, \(bitrateKbps) kbps")
        }
    }

    deinit {
        lame_close(self.lame)
    }

    /// The rates MPEG audio layer III has (MPEG-1, 2 and 2.5).
    public static let sampleRates: Set = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]

    /// After `finish`: the Info tag frame, to write over the file's first frame (which the
    /// encoder left for it).
    public func infoTag() -> [UInt8] {
        let size = lame_get_lametag_frame(self.lame, nil, 0)
        guard size > 0 else { return [] }
        var tag = [UInt8](repeating: 0, count: size)
        let written = tag.withUnsafeMutableBufferPointer { lame_get_lametag_frame(self.lame, $0.baseAddress, $0.count) }
        return Array(tag.prefix(written))
    }

    /// Encodes one block (`right` only for two channels) and hands the frames that are done to `write`.
    public func encode(
        left: UnsafeBufferPointer<Float>,
        right: UnsafeBufferPointer<Float>?,
        write: (UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        let frames = left.count
        guard frames > 0 else { return }
        // libmp3lame's bound for the worst case: 1.25 × samples + 7200.
        let capacity = frames * 5 / 4 + 7200
        if self.output.count < capacity { self.output = [UInt8](repeating: 0, count: capacity) }
        let written = self.output.withUnsafeMutableBufferPointer { out in
            lame_encode_buffer_ieee_float(self.lame, left.baseAddress, (right ?? left).baseAddress, Int32(frames), out.baseAddress, Int32(capacity))
        }
        guard written >= 0 else { throw MP3EncoderError(description: "lame_encode_buffer_ieee_float failed (\(written))") }
        try self.output.withUnsafeBufferPointer { try write(UnsafeBufferPointer(rebasing: $0[0..<Int(written)])) }
    }

    /// The last frames.
    public func finish(write: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        if self.output.count < 7200 { self.output = [UInt8](repeating: 0, count: 7200) }
        let written = self.output.withUnsafeMutableBufferPointer { lame_encode_flush(self.lame, $0.baseAddress, Int32($0.count)) }
        guard written >= 0 else { throw MP3EncoderError(description: "lame_encode_flush failed (\(written))") }
        try self.output.withUnsafeBufferPointer { try write(UnsafeBufferPointer(rebasing: $0[0..<Int(written)])) }
    }
}
