import Atomics
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Protocol

/// One live stream (`/api/audio/ws`) after the WebSocket upgrade, entirely on its channel's
/// event loop: no task and no thread hop per connection or per message.
///
/// Per binary message: the next `seq`, an ack into the outgoing buffer, the chunk to the
/// worker that owns this `client_id`. Everything written while handling one socket read (or
/// one batch of results) leaves in one buffer with one flush.
///
/// Backpressure: reading stops while the stream has `maxInFlightChunks` chunks or
/// `maxInFlightBytes` bytes awaiting transcripts, or while the socket's send buffer is over its
/// high-water mark (a client that does not read). TCP then pushes back on the client; the
/// server never buffers more than those bounds for one stream.
final class AudioStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let streams: LiveStreams
    private let workers: WorkerPool
    private let logger: Logger
    private var limits: LiveStreams.Limits { self.streams.limits }

    private var context: ChannelHandlerContext?
    /// Writes here skip the frame encoder: `outgoing` already holds encoded frames.
    private var rawWriter: ChannelHandlerContext?
    private(set) var clientID: UInt64 = 0
    /// The worker that transcribes this stream, fixed for its lifetime (chunks stay in order).
    private var worker: WorkerSlot?
    private var seq: UInt64 = 0
    /// Sizes of the chunks awaiting transcripts, in seq order (answers come in seq order).
    private var inFlightSizes = CircularBuffer<Int>()
    private var inFlightBytes = 0
    private var fragments: (opcode: WebSocketOpcode, data: ByteBuffer)?
    private var outgoing: ByteBuffer?
    private var readPaused = false
    private var readRequested = false
    private var closing = false
    private var closed = false

    init(streams: LiveStreams, workers: WorkerPool, logger: Logger) {
        self.streams = streams
        self.workers = workers
        self.logger = logger
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.rawWriter = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        self.clientID = self.streams.register(self, on: context.eventLoop)
        self.worker = self.workers.slot(for: self.clientID, on: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.shutDown()
        self.context = nil
        self.rawWriter = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.shutDown()
        context.fireChannelInactive()
    }

    private func shutDown() {
        guard !self.closed else { return }
        self.closed = true
        self.streams.unregister(self.clientID)
        // Results still owed to this stream will be dropped by the router, which counts them.
        self.outgoing = nil
        self.fragments = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            self.close(code: .goingAway, reason: "server shutting down")
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if self.closing {
            // After our close frame only the client's close matters.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        guard frame.reservedBits.isEmpty else { return self.close(code: .protocolError, reason: "reserved bits set") }
        guard frame.maskKey != nil else { return self.close(code: .protocolError, reason: "client frames must be masked") }

        switch frame.opcode {
        case .binary, .text:
            guard self.fragments == nil else { return self.close(code: .protocolError, reason: "expected a continuation frame") }
            if frame.fin {
                self.handleMessage(frame.opcode, frame.unmaskedPayload)
            } else if self.fits(frame.opcode, frame.length) {
                self.fragments = (frame.opcode, frame.unmaskedPayload)
            }
        case .continuation:
            guard var fragments = self.fragments else { return self.close(code: .protocolError, reason: "unexpected continuation frame") }
            self.fragments = nil
            guard self.fits(fragments.opcode, fragments.data.readableBytes + frame.length) else { return }
            var more = frame.unmaskedPayload
            fragments.data.writeBuffer(&more)
            if frame.fin {
                self.handleMessage(fragments.opcode, fragments.data)
            } else {
                self.fragments = fragments
            }
        case .ping:
            self.appendFrame(.pong) { buffer in
                var payload = frame.unmaskedPayload
                buffer.writeBuffer(&payload)
            }
        case .pong:
            break
        case .connectionClose:
            self.answerClose(frame.unmaskedPayload)
        default:
            self.close(code: .protocolError, reason: "unknown opcode")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flushOutgoing()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.updateReadPause()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("stream error", metadata: ["client_id": "\(self.clientID)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Whether a message of `length` bytes so far is within the limit; closes with 1009 if not.
    private func fits(_ opcode: WebSocketOpcode, _ length: Int) -> Bool {
        let limit = opcode == .binary ? self.limits.maxChunkBytes : self.limits.maxTextBytes
        guard length <= limit else {
            self.close(code: .messageTooLarge, reason: "message larger than \(limit) bytes")
            return false
        }
        return true
    }

    private func handleMessage(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard self.fits(opcode, data.readableBytes) else { return }
        if opcode == .binary {
            self.handleChunk(data)
        } else {
            self.handleControl(data)
        }
    }

    private func handleChunk(_ audio: ByteBuffer) {
        self.seq += 1
        let seq = self.seq
        let clientID = self.clientID
        self.appendFrame(.text) { $0.writeAckJSON(clientID: clientID, seq: seq, chunkSize: audio.readableBytes) }
        self.inFlightSizes.append(audio.readableBytes)
        self.inFlightBytes += audio.readableBytes
        self.streams.inFlight.wrappingIncrement(ordering: .relaxed)
        self.worker?.submit(clientID: clientID, seq: seq, audio: audio)
        self.updateReadPause()
    }

    private struct ControlMessage: Decodable {
        let type: String
    }

    private func handleControl(_ data: ByteBuffer) {
        guard let text = data.validatedUTF8String() else {
            // RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007.
            return self.close(code: .dataInconsistentWithMessage, reason: "text message is not valid UTF-8")
        }
        guard let message = try? JSONDecoder().decode(ControlMessage.self, from: Data(text.utf8)) else {
            return self.appendFrame(.text) {
                $0.writeErrorJSON(code: "invalid_message", message: "text messages must be JSON objects with a \"type\"")
            }
        }
        switch message.type {
        case "ping":
            self.appendFrame(.text) { $0.writePongJSON() }
        default:
            self.appendFrame(.text) { $0.writeErrorJSON(code: "unknown_type", message: "unknown message type '\(message.type)'") }
        }
    }

    /// The client closed: answer with its code (RFC 6455 §5.5.1), then close the socket.
    private func answerClose(_ payload: ByteBuffer) {
        var payload = payload
        var code = WebSocketErrorCode.normalClosure
        if payload.readableBytes == 1 {
            code = .protocolError
        } else if let received = payload.readWebSocketErrorCode() {
            code = received
            if payload.validatedUTF8String() == nil {
                code = .dataInconsistentWithMessage
            }
        }
        self.closing = true
        self.appendFrame(.connectionClose) { $0.write(webSocketErrorCode: code) }
        let channel = self.context?.channel
        self.flushOutgoing { channel?.close(promise: nil) }
    }

    // MARK: results from the workers

    /// Called on this stream's loop by the router, once per result, in seq order.
    func deliver(_ result: WorkerResult) {
        self.streams.inFlight.wrappingDecrement(ordering: .relaxed)
        // Nothing may follow our close frame (RFC 6455 §5.5.1); drain delivers before closing.
        guard !self.closed, !self.closing else { return }
        if let size = self.inFlightSizes.popFirst() {
            self.inFlightBytes -= size
        }
        let clientID = self.clientID
        switch result.outcome {
        case .transcript(let text):
            self.appendFrame(.text) { $0.writeTranscriptJSON(clientID: clientID, seq: result.seq, text: text) }
        case .failed(let code, let message):
            self.appendFrame(.text) { $0.writeErrorJSON(code: code, message: message, seq: result.seq) }
        }
        self.updateReadPause()
    }

    // MARK: outbound

    func read(context: ChannelHandlerContext) {
        if self.readPaused {
            self.readRequested = true
        } else {
            context.read()
        }
    }

    private func updateReadPause() {
        guard let context = self.context else { return }
        let pause =
            self.inFlightSizes.count >= self.limits.maxInFlightChunks
            || self.inFlightBytes >= self.limits.maxInFlightBytes
            || !context.channel.isWritable
        guard pause != self.readPaused else { return }
        self.readPaused = pause
        if !pause && self.readRequested {
            self.readRequested = false
            context.read()
        }
    }

    private func appendFrame(_ opcode: WebSocketOpcode, body: (inout ByteBuffer) -> Void) {
        guard !self.closed, let context = self.context else { return }
        if self.outgoing == nil {
            self.outgoing = context.channel.allocator.buffer(capacity: 512)
        }
        self.outgoing!.writeServerFrame(opcode: opcode, body: body)
    }

    /// Writes and flushes everything appended since the last flush, as one buffer.
    func flushOutgoing(then: (@Sendable () -> Void)? = nil) {
        guard let outgoing = self.outgoing, let writer = self.rawWriter else {
            then?()
            return
        }
        self.outgoing = nil
        if let then {
            let promise = writer.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in then() }
            writer.writeAndFlush(NIOAny(outgoing), promise: promise)
        } else {
            writer.writeAndFlush(NIOAny(outgoing), promise: nil)
        }
    }

    /// Starts the closing handshake with `code`; the socket closes when the client answers
    /// or after `closeTimeout`.
    func close(code: WebSocketErrorCode, reason: String = "") {
        guard !self.closing, !self.closed, let context = self.context else { return }
        self.closing = true
        self.fragments = nil
        self.appendFrame(.connectionClose) { buffer in
            buffer.write(webSocketErrorCode: code)
            buffer.writeString(String(reason.utf8.prefix(120))!)
        }
        self.flushOutgoing()
        let channel = context.channel
        context.eventLoop.scheduleTask(in: self.limits.closeTimeout) { channel.close(promise: nil) }
    }
}

extension ByteBuffer {
    /// The readable bytes as a String, or nil if they are not valid UTF-8.
    func validatedUTF8String() -> String? {
        self.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
    }
}
