/// A closed segment of one channel: where it lies (16 kHz samples from the stream's start),
/// its audio at 16 kHz, and, when the recogniser decodes as it goes, pocketsphinx's text and
/// word times (`decoded`), or the decoder that heard it, its utterance still open, for another
/// thread to finish (`unfinished`: ending an utterance takes pocketsphinx a fifth of a second).
public struct ClosedSegment: Sendable {
    public var startSample: Int
    public var endSample: Int
    public var samples: [Float]
    public var decoded: (text: String, words: [TimedWord])?
    public var unfinished: PocketSphinxDecoder?
    /// The channel's own rate, before resampling (below 16 kHz: telephone-band audio).
    public var sourceRate = Endpointer.sampleRate
    /// Where its pieces ended, if it was cut into any (see `SpeechPiece`), and whether speech
    /// followed them.
    public var piecesEnd: Int?
    public var speechAfterPieces = true

    public var startMs: Int { self.startSample / 16 }
    public var endMs: Int { self.endSample / 16 }

    /// Finishes the decoder's utterance into `decoded`; returns the decoder, free again.
    public mutating func finishDecoding() -> PocketSphinxDecoder? {
        guard let decoder = self.unfinished else { return nil }
        self.unfinished = nil
        var result = decoder.finish()
        // The decoder heard the closing silence the segment was trimmed of: a last word
        // stretched into it ends with the segment.
        for index in result.words.indices {
            result.words[index].startMs = min(max(result.words[index].startMs, self.startMs), self.endMs)
            result.words[index].endMs = min(result.words[index].endMs, self.endMs)
        }
        self.decoded = result
        return decoder
    }
}

/// One audio channel of a call on its way to text: resampled to 16 kHz (streaming), cut into
/// segments by the endpointer, and, given a pocketsphinx decoder, decoded while each segment
/// is open (the partial hypothesis). When a segment closes, its decoder's utterance is
/// finished here, or, with `nextDecoder`, handed over with the segment (`unfinished`) and the
/// channel goes on with a fresh decoder from `nextDecoder`.
public final class ChannelRecognizer {
    private var resampler: Resampler?
    /// The channel's own rate, before resampling.
    public let inputRate: Int
    private var endpointer = Endpointer()
    /// Lent by the owner; handed back by `releaseDecoder` after `finish`.
    public private(set) var decoder: PocketSphinxDecoder?
    private let nextDecoder: (() -> PocketSphinxDecoder?)?
    private var resampled: [Float] = []
    /// The open segment the decoder is fed, and how many of its samples it has had.
    private var feeding: (startSample: Int, fed: Int)?
    /// 16 kHz samples produced so far: where the next chunk's audio starts.
    public private(set) var position = 0

    /// `pieceSilenceMs`: cut open segments into pieces at pauses this long (see `SpeechPiece`).
    public init(
        inputRate: Int,
        decoder: PocketSphinxDecoder?,
        nextDecoder: (() -> PocketSphinxDecoder?)? = nil,
        pieceSilenceMs: Int? = nil
    ) {
        self.resampler = inputRate == Endpointer.sampleRate ? nil : Resampler(from: inputRate, to: Endpointer.sampleRate)
        self.inputRate = inputRate
        self.endpointer.pieceSilenceMs = pieceSilenceMs
        self.decoder = decoder
        self.nextDecoder = nextDecoder
    }

    /// The open segment's partial text ("" without a decoder or an open segment).
    public var partial: String {
        self.feeding == nil ? "" : (self.decoder?.partial ?? "")
    }

    /// Feeds audio at the input rate; returns the segments it closed.
    public func append(_ samples: some Collection<Float>) -> [ClosedSegment] {
        self.resampled.removeAll(keepingCapacity: true)
        if var resampler = self.resampler {
            resampler.process(samples, into: &self.resampled)
            self.resampler = resampler
        } else {
            self.resampled.append(contentsOf: samples)
        }
        return self.consume(finishing: false)
    }

    /// Ends the channel: the open segment, if it holds speech.
    public func finish() -> [ClosedSegment] {
        self.resampled.removeAll(keepingCapacity: true)
        if var resampler = self.resampler {
            resampler.finish(into: &self.resampled)
            self.resampler = resampler
        }
        return self.consume(finishing: true)
    }

    /// The pieces cut by the last `append` or `finish`, to be decoded before the segments it
    /// returned.
    public func takePieces() -> [SpeechPiece] {
        self.endpointer.takePieces()
    }

    /// Hands the decoder back to its owner (after `finish`).
    public func releaseDecoder() -> PocketSphinxDecoder? {
        defer { self.decoder = nil }
        return self.decoder
    }

    private func consume(finishing: Bool) -> [ClosedSegment] {
        self.position += self.resampled.count
        var segments = self.endpointer.append(self.resampled)
        if finishing, let last = self.endpointer.finish() { segments.append(last) }
        var closed: [ClosedSegment] = []
        for segment in segments {
            var result = ClosedSegment(startSample: segment.startSample, endSample: segment.endSample, samples: segment.samples)
            result.sourceRate = self.inputRate
            result.piecesEnd = segment.piecesEnd
            result.speechAfterPieces = segment.speechAfterPieces
            if let decoder = self.decoder {
                if let feeding = self.feeding, feeding.startSample != segment.startSample {
                    _ = decoder.finish()  // a segment the endpointer dropped
                    self.feeding = nil
                }
                let fed = self.feeding?.fed ?? 0
                if fed < segment.samples.count {
                    decoder.process(segment.samples[fed...], startSample: segment.startSample)
                }
                self.feeding = nil
                result.unfinished = decoder
                if let nextDecoder = self.nextDecoder {
                    // Handed over with the segment; at the end of the channel, none is needed.
                    self.decoder = finishing ? nil : nextDecoder()
                } else {
                    self.decoder = result.finishDecoding()
                }
            }
            closed.append(result)
        }
        guard let decoder = self.decoder else { return closed }
        if let open = self.endpointer.openSegment {
            if self.feeding?.startSample != open.startSample {
                if self.feeding != nil { _ = decoder.finish() }
                self.feeding = (open.startSample, 0)
            }
            if open.samples.count > self.feeding!.fed {
                decoder.process(open.samples[self.feeding!.fed...], startSample: open.startSample)
                self.feeding!.fed = open.samples.count
            }
        } else if self.feeding != nil {
            // The endpointer dropped the segment it had open (too little speech).
            _ = decoder.finish()
            self.feeding = nil
        }
        return closed
    }
}
