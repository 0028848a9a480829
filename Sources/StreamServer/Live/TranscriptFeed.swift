import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A live call's messages for its subscribers (`GET /calls/{id}/live`): every `transcript`,
/// `final` and `stopped`, in order, whichever ingress the audio comes by.
///
/// Each message is appended to the feed's pages of the server's `FeedSpool` (a 4-byte length,
/// then the message), written in small batches (`batchBytes`, or once `maxBatchAge` old) by
/// `LiveFileWriter` like the recording, so a subscriber that joins late replays all of the
/// call's messages however long it has run, while the server holds at most a batch of them.
/// Appending and subscribing share one lock: a subscriber's snapshot ends exactly where its
/// live messages begin (none missed, none twice).
///
/// The pages go back to the spool when nobody holds the feed any more (the call is over and no
/// subscriber is still replaying).
final class TranscriptFeed: Sendable {
    /// Batches of this many bytes go to disk (or once their oldest message is `maxBatchAge` old).
    static let batchBytes = 2048

    /// A subscriber: told on its own loop.
    struct Subscriber: Sendable {
        let id: ObjectIdentifier
        let eventLoop: any EventLoop
        let handler: NIOLoopBound<LiveSubscriberHandler>
    }

    /// What a new subscriber replays: the file's first `fileBytes`, then `tail` (written or not).
    struct Snapshot: Sendable {
        let fileBytes: Int64
        let tail: [ByteBuffer]
        /// The call is already over: nothing follows the snapshot.
        let ended: Bool
    }

    private struct State {
        var pending = ByteBuffer()
        var pendingAge: BatchAge
        /// Batches handed to the writer and not yet written, oldest first.
        var unwritten: [ByteBuffer] = []
        var writtenBytes: Int64 = 0
        var appendedBytes: Int64 = 0
        /// The spool's pages holding this feed's bytes, in order.
        var pages: [UInt32] = []
        var subscribers: [ObjectIdentifier: Subscriber] = [:]
        var ended = false
        var failed = false
    }

    private let spool: FeedSpool
    private let state: NIOLockedValueBox<State>

    init(spool: FeedSpool, maxBatchAge: TimeAmount) {
        self.spool = spool
        self.state = NIOLockedValueBox(State(pendingAge: BatchAge(maxAge: maxBatchAge)))
    }

    deinit {
        self.spool.release(self.state.withLockedValue { $0.pages })
    }

    /// Appends messages and hands them to every subscriber. The session calls it under its own
    /// lock, so messages are appended in the order they are produced.
    func publish(_ messages: [ByteBuffer], at now: NIODeadline = .now()) {
        guard !messages.isEmpty else { return }
        let subscribers = self.state.withLockedValue { state -> [Subscriber] in
            guard !state.ended else { return [] }
            for message in messages {
                var message = message
                state.appendedBytes += Int64(4 + message.readableBytes)
                state.pending.writeInteger(UInt32(message.readableBytes), endianness: .big)
                state.pending.writeBuffer(&message)
            }
            let stale = state.pendingAge.added(at: now)
            if stale || state.pending.readableBytes >= Self.batchBytes { self.handOver(&state) }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers {
            subscriber.eventLoop.execute { subscriber.handler.value.receive(messages) }
        }
    }

    /// The call is over: subscribers are told (after its last messages).
    func end() {
        let subscribers = self.state.withLockedValue { state -> [Subscriber] in
            guard !state.ended else { return [] }
            state.ended = true
            if state.pending.readableBytes > 0 { self.handOver(&state) }
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers {
            subscriber.eventLoop.execute { subscriber.handler.value.feedEnded() }
        }
    }

    /// Registers a subscriber; nil if the spool could not be written. A call that ended since
    /// the subscriber was let in (its check is a database read) still replays in full.
    func subscribe(_ subscriber: Subscriber) -> Snapshot? {
        self.state.withLockedValue { state in
            guard !state.failed else { return nil }
            if !state.ended { state.subscribers[subscriber.id] = subscriber }
            return Snapshot(fileBytes: state.writtenBytes, tail: state.unwritten + [state.pending], ended: state.ended)
        }
    }

    func unsubscribe(_ id: ObjectIdentifier) {
        _ = self.state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
    }

    /// Writes the batch if its oldest message is `maxBatchAge` old (the sessions' sweep).
    func flushStale(at now: NIODeadline) {
        self.state.withLockedValue { state in
            if state.pendingAge.isStale(at: now) { self.handOver(&state) }
        }
    }

    /// `length` bytes of the feed from `offset`, all written before (a replay reads what was
    /// written before it subscribed, piece by piece).
    func read(offset: Int64, length: Int, on eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer> {
        let pages = self.state.withLockedValue { $0.pages[FeedSpool.pageIndices(from: offset, to: offset + Int64(length))] }
        return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
            try self.spool.read(offset: offset, length: length, pages: pages)
        }
    }

    /// Called with the lock held: the pending bytes become the writer's next job.
    private func handOver(_ state: inout State) {
        state.pendingAge.reset()
        guard !state.failed, state.pending.readableBytes > 0 else {
            state.pending = ByteBuffer()
            return
        }
        let batch = state.pending
        let offset = state.appendedBytes - Int64(batch.readableBytes)
        state.pending = ByteBuffer()
        state.unwritten.append(batch)
        let indices = FeedSpool.pageIndices(from: offset, to: state.appendedBytes)
        while state.pages.count <= indices.upperBound { state.pages.append(self.spool.allocatePage()) }
        let pages = state.pages[indices]
        LiveFileWriter.shared.submit {
            // After a failed write the later batches are dropped (nobody can replay past it).
            guard !self.state.withLockedValue({ $0.failed }) else { return }
            do {
                try self.spool.write(batch, at: offset, pages: pages)
                self.state.withLockedValue { state in
                    state.writtenBytes += Int64(batch.readableBytes)
                    state.unwritten.removeFirst()
                }
            } catch {
                // A full disk: later subscribers cannot replay the call, those attached go on.
                self.state.withLockedValue { state in
                    state.failed = true
                    state.unwritten = []
                }
            }
        }
    }
}
