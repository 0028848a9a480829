/// The audio a started live session sends: codec, sample rate and channel count, as the
/// client's `start` message names them. The worker decodes every chunk to 16-bit PCM in this
/// rate and channel count.
public struct StreamFormat: Equatable, Hashable, Sendable {
    public enum Codec: UInt8, CaseIterable, Sendable {
        case pcmS16LE = 1
        case mulaw = 2
        case alaw = 3
        case opus = 4

        /// The name in the WebSocket protocol.
        public var name: String {
            switch self {
            case .pcmS16LE: "pcm_s16le"
            case .mulaw: "mulaw"
            case .alaw: "alaw"
            case .opus: "opus"
            }
        }

        public init?(name: String) {
            guard let codec = Self.allCases.first(where: { $0.name == name }) else { return nil }
            self = codec
        }
    }

    /// Rates libopus decodes to; other codecs take any rate in `sampleRates`.
    public static let opusSampleRates: Set<Int> = [8000, 12000, 16000, 24000, 48000]
    public static let sampleRates = 8000...48000

    public var codec: Codec
    public var sampleRate: Int
    public var channels: Int

    public init(codec: Codec, sampleRate: Int, channels: Int) {
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Bytes of one frame (one sample per channel) as decoded PCM.
    public var pcmFrameBytes: Int { 2 * self.channels }

    /// Milliseconds (rounded down) from the stream's start to frame `frames`.
    public func milliseconds(frames: Int64) -> Int64 {
        frames * 1000 / Int64(self.sampleRate)
    }
}
