import NIOCore
import SpeechRecognition

/// One live session's recognisers, a channel each (a stereo call is two legs: caller and
/// callee), and which chunk each stretch of its audio came in, so a final can name the seqs
/// it spans.
final class StreamRecognizer {
    let channels: [ChannelRecognizer]
    /// Each chunk's seq and where its audio ends (16 kHz samples), oldest first; trimmed to
    /// what an open segment can still reach back to.
    private var chunkEnds: [(seq: UInt64, end: Int)] = []
    private var scratch: [[Float]]

    init(channels: [ChannelRecognizer]) {
        self.channels = channels
        self.scratch = Array(repeating: [], count: channels.count)
    }

    /// What one chunk (or the end) produced, by channel: pieces of open segments, to be decoded
    /// first, and closed segments.
    struct Output {
        var pieces: [(channel: Int, piece: SpeechPiece)] = []
        var closed: [(channel: Int, segment: ClosedSegment)] = []

        mutating func add(_ channel: Int, _ recognizer: ChannelRecognizer, closed: [ClosedSegment]) {
            self.pieces += recognizer.takePieces().map { (channel, $0) }
            self.closed += closed.map { (channel, $0) }
        }
    }

    /// Feeds one chunk of 16-bit interleaved PCM.
    func append(seq: UInt64, pcm: ByteBuffer) -> Output {
        let count = self.channels.count
        for channel in 0..<count { self.scratch[channel].removeAll(keepingCapacity: true) }
        pcm.withUnsafeReadableBytes { raw in
            let frames = raw.count / (2 * count)
            for frame in 0..<frames {
                for channel in 0..<count {
                    let value = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: (frame * count + channel) * 2, as: Int16.self))
                    self.scratch[channel].append(Float(value) / 32_768)
                }
            }
        }
        var output = Output()
        for (channel, recognizer) in self.channels.enumerated() {
            output.add(channel, recognizer, closed: recognizer.append(self.scratch[channel]))
        }
        self.chunkEnds.append((seq, self.channels[0].position))
        // A segment is at most 20 s plus its pre-roll: older chunks can no longer be named.
        let horizon = self.channels[0].position - 21 * Endpointer.sampleRate
        if let first = self.chunkEnds.first, first.end < horizon {
            self.chunkEnds.removeFirst(self.chunkEnds.prefix { $0.end < horizon }.count)
        }
        return output
    }

    /// Ends every channel: their open segments.
    func finish() -> Output {
        var output = Output()
        for (channel, recognizer) in self.channels.enumerated() {
            output.add(channel, recognizer, closed: recognizer.finish())
        }
        return output
    }

    /// The first and last seq whose audio the segment covers.
    func seqs(of segment: ClosedSegment) -> (from: UInt64, to: UInt64) {
        let last = self.chunkEnds.last?.seq ?? 0
        let from = self.chunkEnds.first { $0.end > segment.startSample }?.seq ?? last
        let to = self.chunkEnds.first { $0.end >= segment.endSample }?.seq ?? last
        return (from, max(from, to))
    }
}
