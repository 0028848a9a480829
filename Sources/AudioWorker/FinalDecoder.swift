import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Protocol
import SpeechRecognition

/// Decodes live sessions' closed segments on a thread of its own, in the order they closed
/// (their end times), and writes each final to stdout as soon as it is ready. The main loop
/// never waits for it: acks, partials and heartbeats stay fast when decoding falls behind,
/// and finals only come later. A session's `sessionEnded` goes through the same queue, so it
/// follows the session's last final.
final class FinalDecoder: @unchecked Sendable {
    enum Item {
        case segment(clientID: UInt64, seqFrom: UInt64, seqTo: UInt64, channel: Int, ClosedSegment)
        case ended(clientID: UInt64)
    }

    let models: SpeechModels
    private let decoders: DecoderPool
    private let output: NIOLock
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var head = 0
    private var busy = false
    private var closing = false
    /// Audio queued and not yet decoded, in 16 kHz samples (the capacity figures).
    private var queuedSamples = 0
    private var queuedSegments = 0

    init(models: SpeechModels, decoders: DecoderPool, output: NIOLock) {
        self.models = models
        self.decoders = decoders
        self.output = output
        let thread = Thread { [self] in self.loop() }
        thread.name = "finals"
        thread.start()
    }

    func submit(_ item: Item) {
        self.condition.lock()
        self.queue.append(item)
        if case .segment(_, _, _, _, let segment) = item {
            self.queuedSamples += segment.samples.count
            self.queuedSegments += 1
            self.models.liveSegmentQueued()
        }
        self.condition.signal()
        self.condition.unlock()
    }

    /// Segments waiting to be decoded, and their audio in seconds.
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
            var decodedSamples: Int?
            switch item {
            case .segment(let clientID, let seqFrom, let seqTo, let channel, var segment):
                decodedSamples = segment.samples.count
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
                    recognized = try self.models.recognize(segment, channel: channel, live: true)
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
                frame.writePipeFrame(.sessionEnded(clientID: clientID))
            }
            self.output.withLock {
                do {
                    try PipeIO.writeAll(&frame)
                } catch {
                    PipeIO.log("cannot write a final: \(error)")
                }
            }
            self.condition.lock()
            if let decodedSamples {
                self.queuedSamples -= decodedSamples
                self.queuedSegments -= 1
            }
            self.busy = false
            self.condition.broadcast()
            self.condition.unlock()
        }
    }
}
