import Foundation

/// A stretch of speech found by the `Endpointer`, in 16 kHz samples from the stream's start.
public struct SpeechSegment: Sendable, Equatable {
    public var startSample: Int
    public var endSample: Int
    public var samples: [Float]

    public var startMs: Int { self.startSample / 16 }
    public var endMs: Int { self.endSample / 16 }
}

/// Cuts a 16 kHz mono stream into speech segments by frame energy: a segment opens on
/// speech (with a little audio from before it, so the first word is whole), and closes after
/// `closingSilenceMs` without speech or at `maxSegmentMs`. Energy, not a trained VAD: call
/// audio is close-miked, and the threshold follows the line's noise floor.
public struct Endpointer: Sendable {
    public static let sampleRate = 16_000
    /// 10 ms frames.
    static let frameSamples = 160

    public var closingSilenceMs = 300
    public var maxSegmentMs = 20_000
    /// Speech before the first loud frame kept in the segment.
    public var preRollMs = 200
    /// Silence kept after the last loud frame.
    public var tailMs = 150
    /// Segments with less speech than this are clicks or breaths, not words.
    public var minSpeechMs = 120
    /// A frame is speech above the noise floor plus this, and never below `floorDBFS`.
    public var marginDB: Float = 12
    public var floorDBFS: Float = -45

    private var pending: [Float] = []
    private var pendingStart = 0
    /// The open segment's audio, from its first sample.
    private var open: [Float]?
    private var openStart = 0
    private var speechFrames = 0
    private var silentFrames = 0
    /// A slowly rising, quickly falling estimate of the background level, in dBFS.
    private var noiseDB: Float = -70
    private var preRoll: [Float] = []

    public init() {}

    /// Whether a segment is open (speech heard and not yet closed).
    public var isOpen: Bool { self.open != nil }

    /// The open segment's first sample and its audio so far; nil when none is open.
    public var openSegment: (startSample: Int, samples: [Float])? {
        self.open.map { (self.openStart, $0) }
    }

    /// Feeds audio; returns the segments this closed.
    public mutating func append(_ samples: some Collection<Float>) -> [SpeechSegment] {
        self.pending.append(contentsOf: samples)
        var closed: [SpeechSegment] = []
        var offset = 0
        while self.pending.count - offset >= Self.frameSamples {
            let frame = self.pending[offset..<(offset + Self.frameSamples)]
            if let segment = self.consume(frame, at: self.pendingStart + offset) {
                closed.append(segment)
            }
            offset += Self.frameSamples
        }
        self.pending.removeFirst(offset)
        self.pendingStart += offset
        return closed
    }

    /// Ends the stream: the open segment, if it holds speech.
    public mutating func finish() -> SpeechSegment? {
        self.open?.append(contentsOf: self.pending)
        return self.close()
    }

    private mutating func consume(_ frame: ArraySlice<Float>, at start: Int) -> SpeechSegment? {
        var energy: Float = 0
        for sample in frame { energy += sample * sample }
        let db = 10 * log10(max(energy / Float(frame.count), 1e-10))
        let speech = db > max(self.floorDBFS, self.noiseDB + self.marginDB)
        // The floor falls at once to quieter frames, follows the background between words,
        // and creeps up through speech only slowly (a steady hum becomes background, words not).
        if db < self.noiseDB {
            self.noiseDB = db
        } else {
            self.noiseDB += (speech ? 0.0005 : 0.01) * (db - self.noiseDB)
        }

        // Appended in place: a copy out of the optional would copy the whole segment per frame.
        if self.open != nil {
            self.open!.append(contentsOf: frame)
            if speech {
                self.speechFrames += 1
                self.silentFrames = 0
            } else {
                self.silentFrames += 1
            }
            let length = self.open!.count * 1000 / Self.sampleRate
            if self.silentFrames * 10 >= self.closingSilenceMs || length >= self.maxSegmentMs {
                return self.close()
            }
            return nil
        }
        if speech {
            self.open = self.preRoll + frame
            self.openStart = start - self.preRoll.count
            self.speechFrames = 1
            self.silentFrames = 0
            self.preRoll.removeAll(keepingCapacity: true)
        } else {
            self.preRoll.append(contentsOf: frame)
            let keep = self.preRollMs * Self.sampleRate / 1000
            if self.preRoll.count > keep { self.preRoll.removeFirst(self.preRoll.count - keep) }
        }
        return nil
    }

    private mutating func close() -> SpeechSegment? {
        guard var samples = self.open else { return nil }
        self.open = nil
        guard self.speechFrames * 10 >= self.minSpeechMs else { return nil }
        // Trim the closing silence to the tail kept after the last loud frame.
        let trailing = max(0, self.silentFrames * Self.frameSamples - self.tailMs * Self.sampleRate / 1000)
        samples.removeLast(min(trailing, samples.count))
        return SpeechSegment(startSample: self.openStart, endSample: self.openStart + samples.count, samples: samples)
    }
}
