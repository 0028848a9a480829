import RequestParsing
import Atomics
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import WebSocketDeflate
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
final class AudioStreamHandler: ChannelDuplexHandler, LiveConnectionHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Whether this connection carries a started session. `starting` waits for the session's
    /// rows and file; reading is paused meanwhile, and messages that came in the same read
    /// wait in `backlog`.
    private enum Mode {
        case plain
        case starting
        case session(LiveSession, stopping: Bool)
    }

    private let streams: LiveStreams
    private let sessions: LiveSessions
    private let workers: WorkerPool
    private var logger: Logger
    private var limits: LiveStreams.Limits { self.streams.limits }

    private var context: ChannelHandlerContext?
    /// The frame encoder's context: writes there skip the encoder, since `outgoing` already
    /// holds encoded frames. Given at init, so a stream without one cannot exist.
    private let frameWriter: ChannelHandlerContext
    private var timeouts: StreamTimeouts?
    /// The last time the client sent anything, or the last of its transcripts went out.
    private var lastActivity = NIODeadline.now()
    /// Since when the socket's send buffer has been over its high-water mark.
    private var unwritableSince: NIODeadline?
    private(set) var clientID: UInt64 = 0
    private var connection: LiveStreams.Connection?
    private var mode = Mode.plain
    private var backlog: [(WebSocketOpcode, ByteBuffer)] = []
    /// The worker that transcribes this stream, fixed for its lifetime (chunks stay in order).
    private var worker: WorkerSlot?
    private var seq: UInt64 = 0
    /// The chunks awaiting transcripts, in seq order (answers come in seq order).
    private var inFlightSizes = CircularBuffer<InFlightChunk>()
    private var inFlightBytes = 0
    private var fragments: (opcode: WebSocketOpcode, data: ByteBuffer, compressed: Bool)?
    /// permessage-deflate, when the upgrade negotiated it (`--ws-compression`).
    private let deflate: PerMessageDeflate?
    /// The test-only echo endpoint: data messages come back unchanged (Autobahn's cases).
    private let echo: Bool
    /// A Twilio Media Streams connection (`/api/twilio/ws`): Twilio's events in, nothing but
    /// control frames out.
    private var twilio: TwilioIngress?
    /// Skipped Twilio messages after the first are logged at debug level only.
    private var twilioSkips = 0
    private var outgoing: ByteBuffer?
    private var readGate = ReadGate()
    private var closing = false
    private var closed = false
    /// This loop's chunk-path metrics, and when the acks and answers waiting in `outgoing` came in.
    private var loopMetrics: LoopMetrics?
    private var unflushedAcks: [NIODeadline] = []
    private var unflushedAnswers: [NIODeadline] = []

    /// `frameWriter`: the context of the channel's `WebSocketFrameEncoder`.
    init(
        streams: LiveStreams,
        sessions: LiveSessions,
        workers: WorkerPool,
        logger: Logger,
        frameWriter: ChannelHandlerContext,
        deflate: PerMessageDeflate? = nil,
        echo: Bool = false,
        twilio: TwilioIngress? = nil
    ) {
        self.frameWriter = frameWriter
        self.deflate = deflate
        self.echo = echo
        self.twilio = twilio
        self.streams = streams
        self.sessions = sessions
        self.workers = workers
        self.logger = logger
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        (self.clientID, self.connection) = self.streams.register(self, on: context.eventLoop)
        self.timeouts = self.streams.timeouts(on: context.eventLoop)
        self.timeouts?.add(self)
        self.worker = self.workers.slot(for: self.clientID, on: context.eventLoop)
        self.loopMetrics = self.streams.metrics.loop(context.eventLoop)
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
        guard !self.closed else { return }
        self.closed = true
        self.streams.unregister(self.clientID)
        self.timeouts?.remove(self)
        // Results still owed to a plain stream are dropped by the router, which counts them; a
        // session keeps them for a resume.
        if case .session(let session, let stopping) = self.mode {
            if self.twilio != nil {
                // After Twilio's `stop` the session is stopping already; its audio is all in.
                let lastAudio = stopping ? [] : (self.twilio?.finish() ?? []).map { ByteBuffer(bytes: $0) }
                let submitted = session.hangUp(from: ObjectIdentifier(self), lastAudio: lastAudio)
                self.streams.inFlight.wrappingIncrement(by: submitted, ordering: .relaxed)
            } else {
                session.detach(ObjectIdentifier(self))
            }
        }
        self.outgoing = nil
        self.fragments = nil
        self.backlog = []
        self.unflushedAcks = []
        self.unflushedAnswers = []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            self.close(code: .goingAway, reason: "server shutting down")
        } else if case .inputClosed = event as? ChannelEvent {
            // Hummingbird allows half-closed connections (for HTTP); a WebSocket client that
            // stops sending without a close frame has dropped: close, so a session detaches.
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        self.lastActivity = .now()
        if self.closing {
            // After our close frame only the client's close matters.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        // RSV1 marks a compressed message (RFC 7692): only on its first frame, only if negotiated.
        let compressed = frame.reservedBits == .rsv1 && self.deflate != nil && (frame.opcode == .binary || frame.opcode == .text)
        guard frame.reservedBits.isEmpty || compressed else { return self.close(code: .protocolError, reason: "reserved bits set") }
        guard frame.maskKey != nil else { return self.close(code: .protocolError, reason: "client frames must be masked") }

        switch frame.opcode {
        case .binary, .text:
            guard self.fragments == nil else { return self.close(code: .protocolError, reason: "expected a continuation frame") }
            if frame.fin {
                self.handleMessage(frame.opcode, frame.unmaskedPayload, compressed: compressed)
            } else if self.fits(frame.opcode, frame.length) {
                self.fragments = (frame.opcode, frame.unmaskedPayload, compressed)
            }
        case .continuation:
            guard var fragments = self.fragments else { return self.close(code: .protocolError, reason: "unexpected continuation frame") }
            self.fragments = nil
            guard self.fits(fragments.opcode, fragments.data.readableBytes + frame.length) else { return }
            var more = frame.unmaskedPayload
            fragments.data.writeBuffer(&more)
            if frame.fin {
                self.handleMessage(fragments.opcode, fragments.data, compressed: fragments.compressed)
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
        self.unwritableSince = context.channel.isWritable ? nil : .now()
        self.updateReadPause()
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.logger.debug("stream error", metadata: ["client_id": "\(self.clientID)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Largest message: a chunk, or a control message (the echo endpoint echoes text as large as chunks).
    private func messageLimit(_ opcode: WebSocketOpcode) -> Int {
        opcode == .binary || self.echo ? self.limits.maxChunkBytes : self.limits.maxTextBytes
    }

    /// Whether a message of `length` bytes so far is within the limit; closes with 1009 if not.
    private func fits(_ opcode: WebSocketOpcode, _ length: Int) -> Bool {
        let limit = self.messageLimit(opcode)
        guard length <= limit else {
            self.close(code: .messageTooLarge, reason: "message larger than \(limit) bytes")
            return false
        }
        return true
    }

    private func handleMessage(_ opcode: WebSocketOpcode, _ data: ByteBuffer, compressed: Bool) {
        var data = data
        if compressed, let deflate = self.deflate {
            let limit = self.messageLimit(opcode)
            do {
                data = try deflate.inflate(data, limit: limit)
            } catch .tooLarge {
                return self.close(code: .messageTooLarge, reason: "message larger than \(limit) bytes")
            } catch {
                return self.close(code: .dataInconsistentWithMessage, reason: "invalid compressed data")
            }
        }
        self.handleMessage(opcode, data)
    }

    private func handleMessage(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard self.fits(opcode, data.readableBytes) else { return }
        if self.echo { return self.echoMessage(opcode, data) }
        if case .starting = self.mode {
            self.backlog.append((opcode, data))
            return
        }
        if self.twilio != nil { return self.handleTwilio(opcode, data) }
        if opcode == .binary {
            self.handleChunk(data)
        } else {
            self.handleControl(data)
        }
    }

    /// The echo endpoint: the message back as it came (text must be UTF-8, RFC 6455 §8.1).
    private func echoMessage(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        if opcode == .text, data.validatedUTF8String() == nil {
            return self.close(code: .dataInconsistentWithMessage, reason: "text message is not valid UTF-8")
        }
        self.appendFrame(opcode) { buffer in
            var data = data
            buffer.writeBuffer(&data)
        }
    }

    private func handleChunk(_ audio: ByteBuffer) {
        let seq: UInt64
        let receivedAt = NIODeadline.now()
        switch self.mode {
        case .plain:
            self.seq += 1
            seq = self.seq
            self.inFlightSizes.append(InFlightChunk(size: audio.readableBytes, receivedAt: receivedAt))
            self.inFlightBytes += audio.readableBytes
            self.worker?.submit(clientID: self.clientID, seq: seq, audio: audio)
        case .session(_, stopping: true):
            return self.sendError("session_stopping", "no audio after stop: the session is finishing")
        case .session(let session, stopping: false):
            guard let submitted = session.submit(audio, receivedAt: receivedAt) else {
                // The server stopped the session (its length limit).
                self.mode = .session(session, stopping: true)
                return self.sendError("session_stopping", "no audio after stop: the session is finishing")
            }
            seq = submitted
        case .starting:
            preconditionFailure("messages wait in the backlog while a session starts")
        }
        let clientID = self.clientID
        self.appendFrame(.text) { $0.writeAckJSON(clientID: clientID, seq: seq, chunkSize: audio.readableBytes) }
        self.unflushedAcks.append(receivedAt)
        self.loopMetrics?.counts.chunks += 1
        self.loopMetrics?.counts.chunkBytes += UInt64(audio.readableBytes)
        self.streams.inFlight.wrappingIncrement(ordering: .relaxed)
        self.updateReadPause()
    }

    private func handleControl(_ data: ByteBuffer) {
        guard let text = data.validatedUTF8String() else {
            // RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007.
            return self.close(code: .dataInconsistentWithMessage, reason: "text message is not valid UTF-8")
        }
        guard let fields = JSONValue.object(Data(text.utf8)),
            case .string(let type) = fields["type"]
        else {
            return self.sendError("invalid_message", "text messages must be JSON objects with a \"type\"")
        }
        switch type {
        case "ping":
            self.appendFrame(.text) { $0.writePongJSON() }
        case "start":
            self.handleStart(fields)
        case "stop":
            self.handleStop()
        case "resume":
            self.handleResume(fields)
        default:
            self.sendError("unknown_type", "unknown message type '\(type)'")
        }
    }

    private func sendError(_ code: String, _ message: String) {
        self.appendFrame(.text) { $0.writeErrorJSON(code: code, message: message) }
    }

    // MARK: sessions

    private func handleStart(_ fields: [String: JSONValue]) {
        guard case .plain = self.mode else { return self.sendError("already_started", "this connection carries a session already") }
        guard self.seq == 0 else { return self.sendError("start_after_audio", "start must come before the first audio chunk") }
        let request: SessionRequest.Start
        do {
            request = try SessionRequest.start(fields)
        } catch {
            return self.sendError(error.code, error.message)
        }
        self.startSession(request)
    }

    private func startSession(_ request: SessionRequest.Start) {
        guard let worker = self.worker, let connection = self.connection, let context = self.context else { return }
        self.mode = .starting
        self.updateReadPause()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.sessions.start(request, clientID: self.clientID, worker: worker, connection: connection).whenSuccess { result in
            loopBound.value.started(result, request: request)
        }
    }

    /// The session's rows and file exist (or could not be made): answer, then handle what
    /// arrived meanwhile.
    private func started(_ result: Result<LiveSession, SessionRequest.Refusal>, request: SessionRequest.Start) {
        switch result {
        case .success(let session):
            self.mode = .session(session, stopping: false)
            self.logger[metadataKey: "client_id"] = "\(self.clientID)"
            self.logger[metadataKey: "call_id"] = session.callIDText.map { .string($0) }
            self.logger.info(
                "session started",
                metadata: [
                    "codec": "\(session.format.codec.name)", "sample_rate": "\(session.format.sampleRate)",
                    "caller": "\(request.caller)", "receiver": "\(request.receiver)",
                ]
            )
            guard !self.closed else {
                session.detach(ObjectIdentifier(self))
                return
            }
            let clientID = self.clientID
            let maxChunkBytes = self.limits.maxChunkBytes
            self.appendFrame(.text) {
                $0.writeStartedJSON(clientID: clientID, callID: session.callIDText, resumeToken: session.token.text, maxChunkBytes: maxChunkBytes)
            }
        case .failure(let refusal):
            self.mode = .plain
            self.sendError(refusal.code, refusal.message)
            if self.twilio != nil {
                self.logger.warning("twilio stream refused", metadata: ["error": "\(refusal.code): \(refusal.message)"])
                self.close(code: .policyViolation, reason: "\(refusal.code): \(refusal.message)")
            }
        }
        let backlog = self.backlog
        self.backlog = []
        for (opcode, data) in backlog where !self.closing && !self.closed {
            self.handleMessage(opcode, data)
        }
        self.flushOutgoing()
        self.updateReadPause()
    }

    private func handleStop() {
        switch self.mode {
        case .plain, .starting:
            self.sendError("not_started", "stop ends a started session: send start first")
        case .session(_, stopping: true):
            // Already stopping: a client that resumed may repeat a stop it is unsure arrived.
            break
        case .session(let session, stopping: false):
            self.mode = .session(session, stopping: true)
            session.stop(from: ObjectIdentifier(self))
        }
    }

    private func handleResume(_ fields: [String: JSONValue]) {
        guard case .plain = self.mode, self.seq == 0 else {
            return self.sendError("resume_failed", "resume must come before start and before any audio")
        }
        let request: SessionRequest.Resume
        do {
            request = try SessionRequest.resume(fields)
        } catch {
            return self.sendError(error.code, error.message)
        }
        guard let connection = self.connection else { return }
        switch self.sessions.resume(request, connection: connection, retiring: self.clientID) {
        case .failure(let refusal):
            self.sendError(refusal.code, refusal.message)
        case .success(let (session, messages, closeAfter)):
            self.clientID = session.clientID
            self.worker = session.worker
            self.mode = .session(session, stopping: session.stopRequested)
            self.logger[metadataKey: "client_id"] = "\(self.clientID)"
            self.logger[metadataKey: "call_id"] = session.callIDText.map { .string($0) }
            self.logger.info("session resumed", metadata: ["last_seq": "\(request.lastSeq)", "resent": "\(messages.count - 1)"])
            self.deliverSession(messages, closeAfter: closeAfter, receivedAt: nil)
        }
    }

    /// A session's rendered answers (transcripts, errors, `stopped`); after `stopped` the
    /// connection closes with 1000. `receivedAt`: when the chunk answered first came in.
    func deliverSession(_ messages: [ByteBuffer], closeAfter: Bool, receivedAt: NIODeadline?) {
        guard !self.closed, !self.closing else { return }
        self.lastActivity = .now()
        if let receivedAt { self.unflushedAnswers.append(receivedAt) }
        for message in messages {
            self.appendFrame(.text) { buffer in
                var message = message
                buffer.writeBuffer(&message)
            }
        }
        if closeAfter {
            self.close(code: .normalClosure, reason: "session stopped")
        } else {
            self.updateReadPause()
        }
    }

    /// The client closed: answer with its code (RFC 6455 §5.5.1), then close the socket.
    /// 1000–1003 and 1007–1014 (RFC 6455 and IANA's registry), and 3000–4999 (libraries and
    /// applications); 1004–1006, 1015 and everything else may not appear in a close frame.
    static func isSendableCloseCode(_ code: UInt16) -> Bool {
        (1000...1003).contains(code) || (1007...1014).contains(code) || (3000...4999).contains(code)
    }

    private func answerClose(_ payload: ByteBuffer) {
        var payload = payload
        var code = WebSocketErrorCode.normalClosure
        if payload.readableBytes == 1 {
            code = .protocolError
        } else if let raw = payload.readInteger(as: UInt16.self) {
            // RFC 6455 §7.4: a code that may not be sent on the wire is a protocol error.
            code = Self.isSendableCloseCode(raw) ? WebSocketErrorCode(codeNumber: Int(raw)) : .protocolError
            if payload.validatedUTF8String() == nil {
                code = .dataInconsistentWithMessage
            }
        }
        self.closing = true
        self.appendFrame(.connectionClose) { $0.write(webSocketErrorCode: code) }
        let channel = self.context?.channel
        self.flushOutgoing { channel?.close(promise: nil) }
    }

    // MARK: Twilio Media Streams

    private func handleTwilio(_ opcode: WebSocketOpcode, _ data: ByteBuffer) {
        guard let step = self.twilio?.handle(opcode, data) else { return }
        switch step {
        case .none:
            break
        case .start(let request, let ignored):
            if let start = self.twilio?.start {
                self.logger[metadataKey: "stream_sid"] = .string(start.streamSid)
                self.logger.info(
                    "twilio stream",
                    metadata: ["call_sid": "\(start.callSid)", "tracks": "\(start.tracks.map(\.rawValue).joined(separator: ","))"]
                )
            }
            if !ignored.isEmpty {
                self.logger.warning(
                    "twilio parameters that are not phone numbers left out",
                    metadata: ["fields": "\(ignored.joined(separator: ","))"]
                )
            }
            self.startSession(request)
        case .audio(let chunks):
            self.submitTwilio(chunks)
        case .stop(let chunks):
            self.submitTwilio(chunks)
            self.handleStop()
        case .skip(let skip, let detail):
            self.streams.metrics.twilioSkipped(skip)
            self.twilioSkips += 1
            self.logger.log(
                level: self.twilioSkips == 1 ? .warning : .debug,
                "twilio message skipped",
                metadata: ["reason": "\(skip.rawValue)", "detail": "\(detail)"]
            )
        case .refuse(let reason):
            self.logger.warning("twilio stream closed", metadata: ["reason": "\(reason)"])
            self.close(code: .policyViolation, reason: reason)
        }
    }

    /// Aligned chunks, each submitted as a binary message would be.
    private func submitTwilio(_ chunks: [[UInt8]]) {
        guard case .session(_, stopping: false) = self.mode, let allocator = self.context?.channel.allocator else { return }
        for chunk in chunks {
            self.handleChunk(allocator.buffer(bytes: chunk))
        }
    }

    /// A Twilio stream's connection is gone: the call ends (Twilio never resumes a stream),
    /// with what the aligner still held.
    // MARK: results from the workers

    /// Called on this stream's loop by the router, once per result, in seq order.
    func deliver(_ result: WorkerResult) {
        self.streams.inFlight.wrappingDecrement(ordering: .relaxed)
        // Nothing may follow our close frame (RFC 6455 §5.5.1); drain delivers before closing.
        guard !self.closed, !self.closing else { return }
        if let answered = self.inFlightSizes.popFirst() {
            self.inFlightBytes -= answered.size
            self.unflushedAnswers.append(answered.receivedAt)
        }
        if self.inFlightSizes.isEmpty { self.lastActivity = .now() }
        let clientID = self.clientID
        switch result.outcome {
        case .transcript(let text), .decoded(let text, _):
            self.appendFrame(.text) { $0.writeTranscriptJSON(clientID: clientID, seq: result.seq, text: text) }
        case .failed(let code, let message):
            self.appendFrame(.text) { $0.writeErrorJSON(code: code, message: message, seq: result.seq) }
        case .final, .sessionEnded:
            break  // sessions only: routed to the session, never here
        }
        self.updateReadPause()
    }

    // MARK: outbound

    func read(context: ChannelHandlerContext) {
        self.readGate.read(context)
    }

    private func updateReadPause() {
        guard let context = self.context else { return }
        let inFlight: (chunks: Int, bytes: Int)
        switch self.mode {
        case .plain: inFlight = (self.inFlightSizes.count, self.inFlightBytes)
        case .starting: inFlight = (Int.max, Int.max)
        case .session(let session, _): inFlight = session.inFlight
        }
        let pause = !self.limits.hasRoom(after: inFlight) || !context.channel.isWritable
        self.readGate.set(paused: pause, context)
    }

    private func appendFrame(_ opcode: WebSocketOpcode, body: (inout ByteBuffer) -> Void) {
        guard !self.closed, let context = self.context else { return }
        // Twilio takes only its own events from us (and needs none): acks, transcripts and
        // errors are not sent; subscribers get the call's results.
        if self.twilio != nil, opcode == .text || opcode == .binary { return }
        if self.outgoing == nil {
            self.outgoing = context.channel.allocator.buffer(capacity: 512)
        }
        if let deflate = self.deflate, opcode == .text || opcode == .binary {
            var message = context.channel.allocator.buffer(capacity: 256)
            body(&message)
            var compressed = deflate.deflate(message)
            self.outgoing!.writeServerFrame(opcode: opcode, compressed: true) { $0.writeBuffer(&compressed) }
        } else {
            self.outgoing!.writeServerFrame(opcode: opcode, body: body)
        }
    }

    /// Writes and flushes everything appended since the last flush, as one buffer.
    func flushOutgoing(then: (@Sendable () -> Void)? = nil) {
        guard let outgoing = self.outgoing, !self.closed else {
            then?()
            return
        }
        let writer = self.frameWriter
        self.outgoing = nil
        self.recordLatencies()
        if let then {
            let promise = writer.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in then() }
            writer.writeAndFlush(NIOAny(outgoing), promise: promise)
        } else {
            writer.writeAndFlush(NIOAny(outgoing), promise: nil)
        }
    }

    /// The acks and answers in the buffer being written: from their chunk's arrival to now.
    private func recordLatencies() {
        guard let loopMetrics = self.loopMetrics, !self.unflushedAcks.isEmpty || !self.unflushedAnswers.isEmpty else { return }
        let now = NIODeadline.now()
        for receivedAt in self.unflushedAcks {
            loopMetrics.counts.ackLatency.record(nanoseconds: (now - receivedAt).nanoseconds)
        }
        for receivedAt in self.unflushedAnswers {
            loopMetrics.counts.transcriptLatency.record(nanoseconds: (now - receivedAt).nanoseconds)
        }
        self.unflushedAcks.removeAll(keepingCapacity: true)
        self.unflushedAnswers.removeAll(keepingCapacity: true)
    }

    // MARK: timeouts

    /// Called by the loop's timer: closes this stream if it has been idle (nothing sent,
    /// nothing awaited) for `idleTimeout`, or unable to take our writes for `sendTimeout`.
    func checkTimeouts(now: NIODeadline, settings: StreamTimeouts.Settings) {
        guard !self.closed, let context = self.context else { return }
        if let sendTimeout = settings.sendTimeout, let since = self.unwritableSince, now - since >= sendTimeout {
            self.logger.info("closing a stream that stopped reading", metadata: ["client_id": "\(self.clientID)"])
            self.close(code: .policyViolation, reason: "not reading: outgoing queue full for \(Self.seconds(sendTimeout)) s")
            // The client reads nothing, so it will not answer our close: release its buffers now.
            context.close(promise: nil)
            return
        }
        if !self.closing, let idleTimeout = settings.idleTimeout, now - self.lastActivity >= idleTimeout, !self.isAwaitingAnswers {
            self.close(code: .goingAway, reason: "idle for \(Self.seconds(idleTimeout)) s")
        }
    }

    /// Whether this stream waits for transcripts of its own (then it is busy, not idle).
    private var isAwaitingAnswers: Bool {
        switch self.mode {
        case .plain: !self.inFlightSizes.isEmpty
        case .starting, .session(_, stopping: true): true
        case .session(let session, stopping: false): session.inFlight.chunks > 0
        }
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let seconds = Double(amount.nanoseconds) / 1e9
        return seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }

    /// Starts the closing handshake with `code`; the socket closes when the client answers
    /// or after `closeTimeout`.
    func close(code: WebSocketErrorCode, reason: String) {
        guard !self.closing, !self.closed, let context = self.context else { return }
        self.closing = true
        self.fragments = nil
        self.appendFrame(.connectionClose) { buffer in
            buffer.write(webSocketErrorCode: code)
            buffer.writeString(CloseReason.cut(reason))
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
