import Foundation
import NIOCore
import Protocol
import SpeechRecognition
import ThreadScheduling

/// Decodes live sessions' closed segments on a thread of its own, in the order they closed
/// (their end times), and sends each final to `WorkerOutput`'s writer as soon as it is
/// ready. The main loop never waits for it: acks, partials and heartbeats stay fast when
/// decoding falls behind, and finals only come later. A session's `sessionEnded` goes through
/// the same queue, so it follows the session's last final. A segment cut into pieces
/// (`SpeechPiece`, Moonshine only) has its pieces decoded as they come, and its final is their
/// texts and its rest's.
final class FinalDecoder: @unchecked Sendable {
    enum Item {
        case piece(clientID: UInt64, channel: Int, SpeechPiece, sourceRate: Int)
        case segment(clientID: UInt64, seqFrom: UInt64, seqTo: UInt64, channel: Int, ClosedSegment)
        case ended(clientID: UInt64)

        /// The audio this item has Moonshine (or pocketsphinx's end of utterance) decode, in
        /// 16 kHz samples; nil for none (an end, or a segment whose pieces said it all).
        var decodedSamples: Int? {
            switch self {
            case .piece(_, _, let piece, _):
                return piece.samples.count
            case .segment(_, _, _, _, let segment):
                guard let piecesEnd = segment.piecesEnd else { return segment.samples.count }
                return segment.speechAfterPieces ? max(0, segment.endSample - piecesEnd) : nil
            case .ended:
                return nil
            }
        }
    }

    /// A segment's pieces' texts, by session, channel and the segment's first sample.
    private struct PieceKey: Hashable {
        var clientID: UInt64
        var channel: Int
        var segmentStart: Int
    }

    let models: SpeechModels
    private let decoders: DecoderPool
    private let output: WorkerOutput
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var head = 0
    private var busy = false
    private var closing = false
    /// Audio queued and not yet decoded, in 16 kHz samples (the capacity figures).
    private var queuedSamples = 0
    private var queuedSegments = 0
    /// Only the decoding thread touches these.
    private var pieceTexts: [PieceKey: [String]] = [:]

    init(models: SpeechModels, decoders: DecoderPool, output: WorkerOutput) {
        self.models = models
        self.decoders = decoders
        self.output = output
        Thread { [self] in
            CurrentThread.setName("finals")
            self.loop()
        }.start()
    }

    func submit(_ item: Item) {
        self.condition.lock()
        self.queue.append(item)
        if let samples = item.decodedSamples {
            self.queuedSamples += samples
            self.queuedSegments += 1
            self.models.liveSegmentQueued()
        }
        self.condition.signal()
        self.condition.unlock()
    }

    /// Segments (and pieces) waiting to be decoded, and their audio in seconds.
    var backlog: (segments: Int, seconds: Double) {
        self.condition.lock()
        defer { self.condition.unlock() }
        return (self.queuedSegments, Double(self.queuedSamples) / Double(Endpointer.sampleRate))
    }

    /// Returns once every submitted item has been written.
    func finish() {
        self.condition.lock()
        self.closing = true
        self.condition.broadcast()
        while self.busy || self.head < self.queue.count {
            self.condition.wait()
        }
        self.condition.unlock()
    }

    private func next() -> Item? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.head == self.queue.count {
            if self.closing { return nil }
            self.condition.wait()
        }
        let item = self.queue[self.head]
        self.head += 1
        // Compact now and then rather than shifting the array on every item.
        if self.head > 256, self.head * 2 > self.queue.count {
            self.queue.removeFirst(self.head)
            self.head = 0
        }
        self.busy = true
        return item
    }

    private func loop() {
        BackgroundPriority.lowerCurrentThread()
        while let item = self.next() {
            var frame = ByteBuffer()
            switch item {
            case .piece(let clientID, let channel, let piece, let sourceRate):
                let text: String
                do {
                    text = try self.models.moonshineText(piece.samples, sourceRate: sourceRate, startSample: piece.startSample, live: true)
                } catch {
                    PipeIO.log("a piece of a segment could not be decoded: \(error)")
                    text = ""
                }
                self.pieceTexts[PieceKey(clientID: clientID, channel: channel, segmentStart: piece.segmentStart), default: []].append(text)
            case .segment(let clientID, let seqFrom, let seqTo, let channel, var segment):
                if self.models.moonshine == nil {
                    // pocketsphinx's own final: end its utterance here, then reuse the decoder.
                    self.decoders.recycle(segment.finishDecoding())
                } else {
                    // Moonshine's text is the final: the pool ends the partials' utterance.
                    self.decoders.recycle(segment.unfinished)
                    segment.unfinished = nil
                }
                let recognized: RecognizedSegment
                do {
                    recognized = try self.recognize(segment, clientID: clientID, channel: channel)
                } catch {
                    PipeIO.log("a segment could not be decoded: \(error)")
                    recognized = RecognizedSegment(
                        channel: UInt8(clamping: channel),
                        startMs: UInt32(clamping: segment.startMs),
                        endMs: UInt32(clamping: segment.endMs),
                        text: ""
                    )
                }
                frame.writePipeFrame(.final(LiveFinal(clientID: clientID, seqFrom: seqFrom, seqTo: seqTo, segment: recognized)))
            case .ended(let clientID):
                self.pieceTexts = self.pieceTexts.filter { $0.key.clientID != clientID }
                frame.writePipeFrame(.sessionEnded(clientID: clientID))
            }
            if frame.readableBytes > 0 { self.output.send(frame) }
            self.condition.lock()
            if let samples = item.decodedSamples {
                self.queuedSamples -= samples
                self.queuedSegments -= 1
            }
            self.busy = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }

    /// A segment's final: with pieces, their texts and (if speech followed them) the rest's.
    private func recognize(_ segment: ClosedSegment, clientID: UInt64, channel: Int) throws -> RecognizedSegment {
        guard let piecesEnd = segment.piecesEnd, self.models.moonshine != nil else {
            return try self.models.recognize(segment, channel: channel, live: true)
        }
        var texts = self.pieceTexts.removeValue(forKey: PieceKey(clientID: clientID, channel: channel, segmentStart: segment.startSample)) ?? []
        if segment.speechAfterPieces {
            let rest = Array(segment.samples[min(segment.samples.count, max(0, piecesEnd - segment.startSample))...])
            texts.append(try self.models.moonshineText(rest, sourceRate: segment.sourceRate, startSample: piecesEnd, live: true))
        }
        return RecognizedSegment(
            channel: UInt8(clamping: channel),
            startMs: UInt32(clamping: segment.startMs),
            endMs: UInt32(clamping: segment.endMs),
            text: texts.filter { !$0.isEmpty }.joined(separator: " ")
        )
    }
}
