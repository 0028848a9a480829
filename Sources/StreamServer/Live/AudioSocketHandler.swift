import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Protocol
import RequestParsing
import Telephony

/// One Asterisk AudioSocket connection (`--audiosocket-port`), entirely on its channel's event
/// loop: the call's UUID, then 20 ms frames of signed linear audio, become a live session and
/// a call whose `external_id` is the UUID (lowercase text). A call made beforehand with
/// `POST /calls` and that `external_id` takes the audio instead of a new call.
///
/// Asterisk hangs the channel up on any kind it does not expect, so the server sends only the
/// hang-up kind (when it ends the call: a limit, shutdown, idleness) and never an answer.
/// A hang-up from Asterisk, or the socket closing, ends the call as a stopped session.
/// Malformed input (an unknown kind, audio before the UUID, a rate that changes) closes this
/// connection only; what arrived before it is kept. 96 and 192 kHz audio is kept at 48 kHz.
final class AudioSocketHandler: ChannelDuplexHandler, LiveConnectionHandler {
    typealias InboundIn = AudioSocketMessage
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case waitingForUUID
        case waitingForAudio(UUID)
        /// The session's rows and file are being made; audio gathers in `pending`.
        case starting(rate: Int)
        case session(LiveSession, rate: Int)
        case ended
    }

    /// Audio goes to the worker 100 ms at a time (five of Asterisk's 20 ms frames).
    static let chunkMs = 100
    /// The hang-up message: kind 0x00, no payload.
    static let hangUpMessage: [UInt8] = [0x00, 0x00, 0x00]

    private let streams: LiveStreams
    private let sessions: LiveSessions
    private let workers: WorkerPool
    private var logger: Logger
    private var context: ChannelHandlerContext?
    private var clientID: UInt64 = 0
    private var connection: LiveStreams.Connection?
    private var worker: WorkerSlot?
    private var timeouts: StreamTimeouts?
    private var phase = Phase.waitingForUUID
    /// Audio not yet submitted: less than a chunk, or everything while the session starts.
    private var pending = ByteBuffer()
    /// The call ended (hang-up, close) while its session was starting.
    private var endWhenStarted = false
    /// 96 and 192 kHz audio is recorded at 48 kHz: every this many samples averaged into one
    /// (speech has nothing up there; the session formats stop at 48 kHz).
    private var decimation = 1
    /// Bytes of a sample group cut at the end of the last frame.
    private var undecimated: [UInt8] = []
    private var lastActivity = NIODeadline.now()
    private var readGate = ReadGate()
    private var closed = false

    init(streams: LiveStreams, sessions: LiveSessions, workers: WorkerPool, logger: Logger) {
        self.streams = streams
        self.sessions = sessions
        self.workers = workers
        self.logger = logger
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        (self.clientID, self.connection) = self.streams.register(self, on: context.eventLoop)
        self.logger[metadataKey: "client_id"] = "\(self.clientID)"
        self.timeouts = self.streams.timeouts(on: context.eventLoop)
        self.timeouts?.add(self)
        self.worker = self.workers.slot(for: self.clientID, on: context.eventLoop)
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
        self.endCall()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let malformed = error as? AudioSocketMessage.Malformed {
            self.logger.warning("malformed AudioSocket input: closing the connection", metadata: ["reason": "\(malformed.reason)"])
        } else {
            self.logger.debug("audiosocket error", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.lastActivity = .now()
        switch Self.unwrapInboundIn(data) {
        case .uuid(let uuid):
            guard case .waitingForUUID = self.phase else { return self.malformed("a second UUID") }
            self.phase = .waitingForAudio(uuid)
            self.logger[metadataKey: "external_id"] = .string(uuid.uuidString.lowercased())
        case .audio(let rate, let samples):
            switch self.phase {
            case .waitingForUUID:
                self.malformed("audio before the UUID")
            case .waitingForAudio(let uuid):
                guard self.startSession(uuid, rate: rate) else { return }
                self.append(samples)
            case .starting(let expected), .session(_, let expected):
                guard rate == expected else { return self.malformed("the sample rate changed from \(expected) to \(rate) Hz") }
                self.append(samples)
            case .ended:
                break
            }
        case .dtmf(let digit):
            self.logger.debug("dtmf", metadata: ["digit": "\(Character(Unicode.Scalar(digit)))"])
        case .hangup:
            self.endCall()
            context.close(promise: nil)
        case .error(let payload):
            self.logger.warning(
                "asterisk reported an error",
                metadata: ["code": "\(payload.readableBytesView.map { String($0) }.joined(separator: ","))"]
            )
            self.endCall()
            context.close(promise: nil)
        }
    }

    private func malformed(_ reason: String) {
        self.logger.warning("malformed AudioSocket input: closing the connection", metadata: ["reason": "\(reason)"])
        self.context?.close(promise: nil)
    }

    private func append(_ samples: ByteBuffer) {
        var samples = samples
        if self.decimation > 1 {
            self.decimate(samples)
        } else {
            self.pending.writeBuffer(&samples)
        }
        self.submitChunks()
    }

    /// Averages each group of `decimation` samples (16-bit little-endian) into `pending`.
    private func decimate(_ samples: ByteBuffer) {
        let bytes = self.undecimated + Array(samples.readableBytesView)
        let groupBytes = 2 * self.decimation
        let whole = bytes.count - bytes.count % groupBytes
        for group in stride(from: 0, to: whole, by: groupBytes) {
            var sum = 0
            for at in stride(from: group, to: group + groupBytes, by: 2) {
                sum += Int(Int16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8))
            }
            self.pending.writeInteger(Int16(sum / self.decimation), endianness: .little)
        }
        self.undecimated = Array(bytes[whole...])
    }

    /// Hands the session every whole chunk gathered.
    private func submitChunks() {
        guard case .session(let session, let rate) = self.phase else { return }
        let chunkBytes = rate / self.decimation * Self.chunkMs / 1000 * 2
        let receivedAt = NIODeadline.now()
        while self.pending.readableBytes >= chunkBytes, let chunk = self.pending.readSlice(length: chunkBytes) {
            guard session.submit(chunk, receivedAt: receivedAt) != nil else {
                // The session reached its length limit: its `stopped` ends the call.
                self.pending.clear()
                return
            }
            self.streams.inFlight.wrappingIncrement(ordering: .relaxed)
        }
        self.pending.discardReadBytes()
        self.updateReadPause()
    }

    // MARK: the session

    private func startSession(_ uuid: UUID, rate: Int) -> Bool {
        if rate > StreamFormat.sampleRates.upperBound, rate % StreamFormat.sampleRates.upperBound == 0 {
            self.decimation = rate / StreamFormat.sampleRates.upperBound
        }
        guard StreamFormat.sampleRates.contains(rate / self.decimation) else {
            self.malformed("\(rate) Hz audio is not supported")
            return false
        }
        guard let worker = self.worker, let connection = self.connection, let context = self.context else { return false }
        let request = SessionRequest.Start(
            format: StreamFormat(codec: .pcmS16LE, sampleRate: rate / self.decimation, channels: 1),
            record: true,
            callID: nil,
            caller: "",
            receiver: "",
            startedAt: Date(),
            isPrivate: false,
            externalID: uuid.uuidString.lowercased(),
            joinsExternalID: true
        )
        self.phase = .starting(rate: rate)
        self.updateReadPause()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.sessions.start(request, clientID: self.clientID, worker: worker, connection: connection).whenSuccess { result in
            loopBound.value.started(result, rate: rate)
        }
        return true
    }

    private func started(_ result: Result<LiveSession, SessionRequest.Refusal>, rate: Int) {
        switch result {
        case .success(let session):
            self.phase = .session(session, rate: rate)
            self.logger[metadataKey: "call_id"] = session.callIDText.map { .string($0) }
            self.logger.info("audiosocket call started", metadata: ["sample_rate": "\(rate)"])
            if self.closed || self.endWhenStarted {
                self.endCall()
            } else {
                self.submitChunks()
            }
        case .failure(let refusal):
            self.phase = .ended
            self.logger.warning("audiosocket call refused", metadata: ["error": "\(refusal.code): \(refusal.message)"])
            self.hangUp()
        }
        self.updateReadPause()
    }

    /// The call is over: the audio still gathered, then the session stops at once (Asterisk
    /// never resumes a connection).
    private func endCall() {
        switch self.phase {
        case .starting:
            self.endWhenStarted = true
        case .session(let session, _):
            self.phase = .ended
            let lastAudio = self.pending.readableBytes > 0 ? [self.pending] : []
            self.pending = ByteBuffer()
            let submitted = session.hangUp(from: ObjectIdentifier(self), lastAudio: lastAudio)
            self.streams.inFlight.wrappingIncrement(by: submitted, ordering: .relaxed)
        case .waitingForUUID, .waitingForAudio, .ended:
            self.phase = .ended
        }
    }

    /// Tells Asterisk to hang up, then closes.
    private func hangUp() {
        guard !self.closed, let context = self.context else { return }
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(bytes: Self.hangUpMessage))).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: LiveConnectionHandler

    func deliver(_ result: WorkerResult) {
        // Only sessions' chunks are ever sent; their answers go to the session.
        self.streams.inFlight.wrappingDecrement(ordering: .relaxed)
    }

    func deliverSession(_ messages: [ByteBuffer], closeAfter: Bool, receivedAt: NIODeadline?) {
        self.lastActivity = .now()
        if closeAfter {
            self.endCall()
            self.hangUp()
        } else {
            self.updateReadPause()
        }
    }

    func flushOutgoing(then: (@Sendable () -> Void)?) {
        then?()
    }

    func close(code: WebSocketErrorCode, reason: String) {
        self.logger.info("audiosocket call ended by the server", metadata: ["reason": "\(reason)"])
        self.endCall()
        self.hangUp()
    }

    func checkTimeouts(now: NIODeadline, settings: StreamTimeouts.Settings) {
        guard !self.closed, let idleTimeout = settings.idleTimeout, now - self.lastActivity >= idleTimeout else { return }
        if case .session(let session, _) = self.phase, session.inFlight.chunks > 0 { return }
        self.close(code: .goingAway, reason: "idle for \(idleTimeout.nanoseconds / 1_000_000_000) s")
    }

    // MARK: backpressure

    func read(context: ChannelHandlerContext) {
        self.readGate.read(context)
    }

    /// Reading stops while the session starts and while its chunks in flight are at the
    /// stream limits (TCP then pushes back on Asterisk).
    private func updateReadPause() {
        guard let context = self.context else { return }
        let pause: Bool
        switch self.phase {
        case .starting: pause = true
        case .session(let session, _):
            pause = !self.streams.limits.hasRoom(after: session.inFlight)
        case .waitingForUUID, .waitingForAudio, .ended: pause = false
        }
        self.readGate.set(paused: pause, context)
    }
}
