/// A call's legs, each arriving as timestamped packets of 8-bit samples (Twilio's 20 ms μ-law
/// `media` per track), laid out as one interleaved stream of whole chunks: a packet lands where
/// its timestamp says, relative to the stream's first packet; where a leg sent nothing, the
/// chunk holds `silence` (μ-law's digital silence is 0xFF).
///
/// A chunk goes out once every leg has reached its end, or once the leading leg is `lagFrames`
/// past it (a leg that is quiet or late does not hold the others back for longer). A packet for
/// audio already sent out is dropped and counted; one more than `maxAheadFrames` past what was
/// sent is refused (memory per stream stays bounded whatever the timestamps say).
public struct TrackAligner: Sendable {
    public enum Refusal: Error, Equatable {
        /// The packet's timestamp lies further ahead than `maxAheadFrames`.
        case tooFarAhead
        /// Not a track of this stream.
        case unknownTrack
    }

    public let channels: Int
    public let sampleRate: Int
    public let chunkFrames: Int
    public let lagFrames: Int
    public let maxAheadFrames: Int
    public let silence: UInt8
    /// Frames of packets dropped because their audio had already gone out.
    public private(set) var lateFrames = 0
    /// The stream's first timestamp (ms): position 0.
    private var originMs: UInt64?
    /// Frames sent out so far; each leg's pending samples start there.
    private var emitted = 0
    /// Per leg: the samples from `emitted` on that it has filled (gaps hold `silence`).
    private var pending: [[UInt8]]

    public init(channels: Int, sampleRate: Int = 8000, chunkMs: Int = 100, lagMs: Int = 500, maxAheadMs: Int = 60_000, silence: UInt8 = 0xFF) {
        precondition(channels >= 1 && chunkMs > 0)
        self.channels = channels
        self.sampleRate = sampleRate
        self.chunkFrames = sampleRate * chunkMs / 1000
        self.lagFrames = sampleRate * lagMs / 1000
        self.maxAheadFrames = sampleRate * maxAheadMs / 1000
        self.silence = silence
        self.pending = Array(repeating: [], count: channels)
    }

    /// Places one packet of `track` (0-based) and returns the chunks that are complete now.
    public mutating func add(track: Int, timestampMs: UInt64, samples: some Collection<UInt8>) throws(Refusal) -> [[UInt8]] {
        guard self.pending.indices.contains(track) else { throw .unknownTrack }
        let origin = self.originMs ?? timestampMs
        self.originMs = origin
        // Before the origin: as late as anything already sent.
        guard timestampMs >= origin else {
            self.lateFrames += samples.count
            return []
        }
        // Any timestamp may arrive: one whose place overflows is as far ahead as can be.
        let (scaled, overflow) = (timestampMs - origin).multipliedReportingOverflow(by: UInt64(self.sampleRate))
        guard !overflow else { throw .tooFarAhead }
        let position = Int(clamping: scaled / 1000)
        guard position - self.emitted <= self.maxAheadFrames else { throw .tooFarAhead }
        var offset = position - self.emitted
        var incoming = samples[...]
        if offset < 0 {
            // Partly (or wholly) before what was sent: keep the part after it.
            let late = min(-offset, incoming.count)
            self.lateFrames += late
            incoming = incoming.dropFirst(late)
            offset = 0
        }
        let end = offset + incoming.count
        if self.pending[track].count < end {
            self.pending[track].append(contentsOf: repeatElement(self.silence, count: end - self.pending[track].count))
        }
        self.pending[track].replaceSubrange(offset..<end, with: incoming)
        return self.takeChunks(upTo: self.frontier)
    }

    /// The end of the stream: everything still pending, the last chunk possibly short.
    public mutating func finish() -> [[UInt8]] {
        let end = self.pending.map(\.count).max() ?? 0
        var chunks = self.takeChunks(upTo: end - end % self.chunkFrames)
        if end % self.chunkFrames > 0 { chunks.append(self.take(frames: end % self.chunkFrames)) }
        return chunks
    }

    /// Frames (from `emitted`) that may go out: as far as every leg has come, or the leading
    /// leg's end less the lag, whichever is further.
    private var frontier: Int {
        let ends = self.pending.map(\.count)
        return max(ends.min() ?? 0, (ends.max() ?? 0) - self.lagFrames)
    }

    private mutating func takeChunks(upTo frames: Int) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var ready = frames
        while ready >= self.chunkFrames {
            chunks.append(self.take(frames: self.chunkFrames))
            ready -= self.chunkFrames
        }
        return chunks
    }

    /// The next `frames` frames, interleaved, and forgotten.
    private mutating func take(frames: Int) -> [UInt8] {
        var chunk = [UInt8](repeating: self.silence, count: frames * self.channels)
        for track in self.pending.indices {
            let have = min(frames, self.pending[track].count)
            for frame in 0..<have {
                chunk[frame * self.channels + track] = self.pending[track][frame]
            }
            self.pending[track].removeFirst(have)
        }
        self.emitted += frames
        return chunk
    }
}
