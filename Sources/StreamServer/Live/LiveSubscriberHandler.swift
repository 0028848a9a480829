import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Protocol

/// One subscriber of a live call (`GET /calls/{id}/live`, a WebSocket), on its channel's loop:
/// first the call's messages so far, replayed from its `TranscriptFeed` piece by piece (each
/// piece written before the next is read, so a long call's history never sits in memory),
/// then its live messages as they come; after `stopped`, close 1000.
///
/// A subscriber never slows the call: the feed hands it messages and moves on. One that does
/// not keep up — more than `maxQueuedBytes` waiting to be written or, while it replays, to be
/// sent after the replay — is dropped (close 1008), not buffered.
final class LiveSubscriberHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    static let maxQueuedBytes = 1 << 20
    static let replayPieceBytes = 64 << 10

    private enum Phase {
        /// Checking the call (it may be private) before subscribing.
        case checking
        /// Replaying what came before the subscription; live messages wait in `queued`.
        case replaying
        case live
        case closed
    }

    private let feed: TranscriptFeed
    private let callID: UUID
    private let repository: any CallRepository
    private let frameWriter: ChannelHandlerContext
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var phase = Phase.checking
    private var queued: [ByteBuffer] = []
    private var queuedBytes = 0
    /// Bytes written and not yet out of the socket's buffers.
    private var unsentBytes = 0
    private var endAfterReplay = false
    /// Our close frame has gone out: only the client's answer is awaited.
    private var closeSent = false
    static let closeTimeout = TimeAmount.seconds(5)

    init(feed: TranscriptFeed, callID: UUID, repository: any CallRepository, frameWriter: ChannelHandlerContext, logger: Logger) {
        self.feed = feed
        self.callID = callID
        self.repository = repository
        self.frameWriter = frameWriter
        self.logger = logger
    }

    /// The kernel's share of a subscriber's backlog: small, so `maxQueuedBytes` is what bounds it.
    static let socketSendBufferBytes: Int32 = 64 << 10

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        _ = context.channel.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(Self.socketSendBufferBytes))
        // Privacy can change while a call runs (PATCH): read it now, off the loop.
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let promise = context.eventLoop.makePromise(of: Bool?.self)
        let repository = self.repository
        let callID = self.callID
        promise.completeWithTask { try await repository.find(id: callID)?.call.isPrivate }
        promise.futureResult.whenComplete { result in
            loopBound.value.checked(try? result.get())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.shutDown()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.shutDown()
        context.fireChannelInactive()
    }

    private func shutDown() {
        guard self.phase != .closed else { return }
        self.phase = .closed
        self.feed.unsubscribe(ObjectIdentifier(self))
        self.queued = []
    }

    private func checked(_ isPrivate: Bool??) {
        guard case .checking = self.phase, let context = self.context else { return }
        switch isPrivate {
        case .some(.some(false)):
            let subscriber = TranscriptFeed.Subscriber(
                id: ObjectIdentifier(self),
                eventLoop: context.eventLoop,
                handler: NIOLoopBound(self, eventLoop: context.eventLoop)
            )
            guard let snapshot = self.feed.subscribe(subscriber) else {
                return self.close(code: .unexpectedServerError, reason: "the call's messages could not be stored")
            }
            self.phase = .replaying
            self.endAfterReplay = snapshot.ended
            self.logger.info("live subscriber", metadata: ["call_id": "\(self.callID.uuidString.lowercased())"])
            self.replay(snapshot, from: 0, carry: ByteBuffer())
        case .some(.some(true)):
            self.close(code: .policyViolation, reason: "recording_private: this call's recording and transcript are private")
        default:
            self.close(code: .unexpectedServerError, reason: "the call could not be read")
        }
    }

    // MARK: replay

    /// Sends the file's bytes from `offset` on (`carry`: a record cut at the previous piece's
    /// end), then the snapshot's tail, then what queued meanwhile.
    private func replay(_ snapshot: TranscriptFeed.Snapshot, from offset: Int64, carry: ByteBuffer) {
        guard case .replaying = self.phase, let context = self.context else { return }
        guard offset < snapshot.fileBytes else {
            var records = carry
            for part in snapshot.tail {
                var part = part
                records.writeBuffer(&part)
            }
            self.send(records: &records)
            self.phase = .live
            let queued = self.queued
            self.queued = []
            self.queuedBytes = 0
            self.send(queued)
            if self.endAfterReplay { self.feedEnded() }
            return
        }
        let length = Int(min(Int64(Self.replayPieceBytes), snapshot.fileBytes - offset))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.feed.read(offset: offset, length: length, on: context.eventLoop).flatMap { piece -> EventLoopFuture<ByteBuffer> in
            var records = carry
            var piece = piece
            records.writeBuffer(&piece)
            let written = loopBound.value.send(records: &records)
            let rest = records
            return written.map { rest }
        }.whenComplete { result in
            switch result {
            case .success(let rest): loopBound.value.replay(snapshot, from: offset + Int64(length), carry: rest)
            case .failure: loopBound.value.close(code: .unexpectedServerError, reason: "the call's messages could not be read")
            }
        }
    }

    /// Sends the whole records in `records` (length-prefixed), leaving a cut one in it; the
    /// future completes once they are written.
    @discardableResult
    private func send(records: inout ByteBuffer) -> EventLoopFuture<Void> {
        var messages: [ByteBuffer] = []
        while let length = records.getInteger(at: records.readerIndex, endianness: .big, as: UInt32.self),
            records.readableBytes >= 4 + Int(length)
        {
            records.moveReaderIndex(forwardBy: 4)
            messages.append(records.readSlice(length: Int(length))!)
        }
        records.discardReadBytes()
        return self.send(messages)
    }

    // MARK: live

    /// The feed's new messages (on this loop).
    func receive(_ messages: [ByteBuffer]) {
        switch self.phase {
        case .checking, .closed:
            break
        case .replaying:
            self.queued += messages
            self.queuedBytes += messages.reduce(0) { $0 + $1.readableBytes }
            if self.queuedBytes > Self.maxQueuedBytes { self.drop() }
        case .live:
            self.send(messages)
        }
    }

    /// The call has ended: after its last messages, close.
    func feedEnded() {
        switch self.phase {
        case .replaying: self.endAfterReplay = true
        case .live: self.close(code: .normalClosure, reason: "call ended")
        case .checking, .closed: break
        }
    }

    /// Writes `messages` as text frames in one buffer; the future completes once written.
    @discardableResult
    private func send(_ messages: [ByteBuffer]) -> EventLoopFuture<Void> {
        let eventLoop = self.frameWriter.eventLoop
        guard !messages.isEmpty, self.context != nil, self.phase != .closed else { return eventLoop.makeSucceededVoidFuture() }
        var buffer = ByteBufferAllocator().buffer(capacity: messages.reduce(0) { $0 + $1.readableBytes + 4 })
        for message in messages {
            buffer.writeServerFrame(opcode: .text) { out in
                var message = message
                out.writeBuffer(&message)
            }
        }
        let size = buffer.readableBytes
        self.unsentBytes += size
        if self.unsentBytes > Self.maxQueuedBytes {
            self.drop()
            return eventLoop.makeSucceededVoidFuture()
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        promise.futureResult.whenComplete { _ in loopBound.value.unsentBytes -= size }
        self.frameWriter.writeAndFlush(NIOAny(buffer), promise: promise)
        return promise.futureResult
    }

    /// Closes at once: a close frame would wait behind everything the subscriber did not read.
    private func drop() {
        self.logger.info("dropping a live subscriber that does not keep up", metadata: ["call_id": "\(self.callID.uuidString.lowercased())"])
        self.close(code: .policyViolation, reason: "too slow: the subscriber fell more than 1 MiB behind")
        self.context?.channel.close(promise: nil)
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            var pong = ByteBuffer()
            pong.writeServerFrame(opcode: .pong) { buffer in
                var payload = frame.unmaskedData
                buffer.writeBuffer(&payload)
            }
            self.frameWriter.writeAndFlush(NIOAny(pong), promise: nil)
        case .connectionClose:
            // The answer to our close ends the handshake; the client's own close gets one.
            guard !self.closeSent else { return context.close(promise: nil) }
            self.close(code: .normalClosure, reason: "", answering: true)
        default:
            break  // a subscriber has nothing to say
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// A close frame, then the socket.
    /// The socket closes once the client answers (or after `closeTimeout`), not at once: a
    /// client still setting up its WebSocket handlers right after the 101 could lose a close
    /// that came with the end of the stream.
    private func close(code: WebSocketErrorCode, reason: String, answering: Bool = false) {
        guard let context = self.context, self.phase != .closed else { return }
        self.shutDown()
        self.closeSent = true
        var frame = ByteBuffer()
        frame.writeServerFrame(opcode: .connectionClose) { buffer in
            buffer.write(webSocketErrorCode: code)
            buffer.writeString(CloseReason.cut(reason))
        }
        let channel = context.channel
        let written = self.frameWriter.writeAndFlush(NIOAny(frame))
        if answering {
            written.whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.eventLoop.scheduleTask(in: Self.closeTimeout) { channel.close(promise: nil) }
        }
    }
}
