import Foundation

/// A stretch of speech found by the `Endpointer`, in 16 kHz samples from the stream's start.
public struct SpeechSegment: Sendable, Equatable {
    public var startSample: Int
    public var endSample: Int
    public var samples: [Float]

    /// With pieces (`Endpointer.pieceSilenceMs`): where the last piece of this segment ended,
    /// and whether speech came after it (only then is the rest worth decoding).
    public var piecesEnd: Int?
    public var speechAfterPieces = true

    public var startMs: Int { self.startSample / 16 }
    public var endMs: Int { self.endSample / 16 }
}

/// The front of an open segment, cut at a short pause so that it can be decoded while the
/// speaker goes on (or, at the end of a sentence, while the endpointer waits out its closing
/// silence): the segment that starts at `segmentStart` is these pieces and what follows them.
public struct SpeechPiece: Sendable, Equatable {
    public var segmentStart: Int
    public var startSample: Int
    public var samples: [Float]
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
    /// Cut a piece at this much silence inside an open segment (nil: no pieces)...
    public var pieceSilenceMs: Int?
    /// ...once the piece would be this long: a short segment decodes fast anyway, and a short
    /// piece decoded without the rest of its sentence loses words (on call30.wav, pieces from
    /// 1 s took Moonshine's WER from 4 % to 14 %, from 2 s to 4 % and 14 % at 8 kHz, from 2.5 s,
    /// where only whole sentences are cut, as they end, 2 % and 10 %).
    public var minPieceMs = 2_500

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
    /// Where in the open segment the next piece starts, and whether it holds speech yet.
    private var pieceStart = 0
    private var speechSincePiece = false
    private var cutPieces: [SpeechPiece] = []

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

    /// The pieces cut since the last call, oldest first (before the segments they belong to
    /// are returned by `append`).
    public mutating func takePieces() -> [SpeechPiece] {
        defer { self.cutPieces.removeAll() }
        return self.cutPieces
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
                self.speechSincePiece = true
            } else {
                self.silentFrames += 1
                self.cutPieceIfDue()
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
            self.pieceStart = 0
            self.speechSincePiece = true
            self.preRoll.removeAll(keepingCapacity: true)
        } else {
            self.preRoll.append(contentsOf: frame)
            let keep = self.preRollMs * Self.sampleRate / 1000
            if self.preRoll.count > keep { self.preRoll.removeFirst(self.preRoll.count - keep) }
        }
        return nil
    }

    private mutating func cutPieceIfDue() {
        guard let pieceSilenceMs = self.pieceSilenceMs, let open = self.open, self.speechSincePiece,
            self.silentFrames * 10 == pieceSilenceMs,
            (open.count - self.pieceStart) * 1000 >= self.minPieceMs * Self.sampleRate,
            // A segment with a piece is never dropped for too little speech.
            self.speechFrames * 10 >= self.minSpeechMs
        else { return }
        self.cutPieces.append(
            SpeechPiece(segmentStart: self.openStart, startSample: self.openStart + self.pieceStart, samples: Array(open[self.pieceStart...]))
        )
        self.pieceStart = open.count
        self.speechSincePiece = false
    }

    private mutating func close() -> SpeechSegment? {
        guard var samples = self.open else { return nil }
        self.open = nil
        guard self.speechFrames * 10 >= self.minSpeechMs else { return nil }
        // Trim the closing silence to the tail kept after the last loud frame.
        let trailing = max(0, self.silentFrames * Self.frameSamples - self.tailMs * Self.sampleRate / 1000)
        samples.removeLast(min(trailing, samples.count))
        var segment = SpeechSegment(startSample: self.openStart, endSample: self.openStart + samples.count, samples: samples)
        if self.pieceStart > 0 {
            segment.piecesEnd = self.openStart + self.pieceStart
            segment.speechAfterPieces = self.speechSincePiece
        }
        return segment
    }
}
