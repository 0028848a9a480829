import NIOCore
import NIOWebSocket
import Protocol
import StreamClient
import WebSocketDeflate

/// One load connection after the upgrade: sends chunks (at a fixed rate, or as fast as the
/// in-flight window allows), checks every reply with `StreamChecker`, and records latencies.
final class StreamClientHandler: ChannelInboundHandler, SendPacer.Client {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Outcome: Sendable {
        var counts = StreamChecker.Counts()
        var ackMicros: [UInt32] = []
        var transcriptMicros: [UInt32] = []
        var firstSend: UInt64 = 0
        var lastReply: UInt64 = 0
        var closedEarly = false
        var violations: [String] = []
        /// Started sessions: the call recorded, reconnects made, whether `stopped` arrived.
        var callID: String?
        var resumes = 0
        var stopped = false
        /// Started sessions: from sending `start` to its `started`.
        var startMicros: UInt32?
        /// Real engines: each final's channel, start and text, and how long after the end of
        /// its speech (at real-time pace) it arrived.
        var finals: [(channel: Int, startMs: Int64, text: String)] = []
        var finalLagMicros: [UInt32] = []
        /// With `--latency-log`: every ack and transcript, in arrival order.
        var replies: [ReplyRecord] = []
    }

    /// A reply for `--latency-log`: when its chunk was sent (monotonic ns), and how long after.
    struct ReplyRecord: Sendable {
        var sentNanos: UInt64
        var isTranscript: Bool
        var micros: UInt32
    }

    private let configuration: LoadConfiguration
    private let payload: ByteBuffer
    private let finished: EventLoopPromise<Outcome>
    private var checker: StreamChecker
    private var outcome = Outcome()
    private var sendTimes: [UInt64] = []
    private let pacer: SendPacer
    /// Real-time pace: this stream's number in `pacer`, the connection, chunk 0's time, the interval.
    private var pacing: (client: Int32, context: ChannelHandlerContext, start: NIODeadline, interval: Int64)?
    private var maskKeys = MaskKeySource()
    private var done = false

    /// permessage-deflate, when `--compression` agreed it with the server.
    private let deflate: PerMessageDeflate?

    init(
        configuration: LoadConfiguration,
        payload: ByteBuffer,
        finished: EventLoopPromise<Outcome>,
        pacer: SendPacer,
        deflate: PerMessageDeflate? = nil
    ) {
        self.deflate = deflate
        self.pacer = pacer
        self.configuration = configuration
        self.payload = payload
        self.finished = finished
        self.checker = StreamChecker(expectsMockText: configuration.checkMockText)
        self.sendTimes.reserveCapacity(configuration.messages + 1)
    }

    /// Starts sending; called once the connection is upgraded.
    func start(context: ChannelHandlerContext) {
        self.configuration.progress?.connected()
        guard self.configuration.messages > 0 else { return }
        if self.configuration.rateMs > 0 {
            // A random phase per connection, as real calls have, and a drift-free schedule:
            // chunk i is due at start + phase + i × interval.
            let interval = Int64(self.configuration.rateMs * 1_000_000)
            let start = NIODeadline.now() + .nanoseconds(Int64.random(in: 0..<interval))
            self.pacing = (self.pacer.register(self), context, start, interval)
            self.scheduleChunk()
        } else {
            self.fillWindow(context: context)
        }
    }

    /// Asks the pacer for the next chunk's time (chunk i is due at start + i × interval).
    private func scheduleChunk() {
        let index = self.checker.counts.sent
        guard let pacing = self.pacing, index < self.configuration.messages, !self.done else { return }
        self.pacer.schedule(pacing.client, at: pacing.start + .nanoseconds(pacing.interval * Int64(index)), ticket: 0)
    }

    /// The pacer's call: the next chunk is due (one entry at a time, so never a stale one).
    func due(ticket: UInt32) {
        guard let context = self.pacing?.context, !self.done else { return }
        self.sendChunk(context: context)
        context.flush()
        self.scheduleChunk()
    }

    private func fillWindow(context: ChannelHandlerContext) {
        var sentAny = false
        while self.checker.counts.sent < self.configuration.messages,
            self.checker.counts.sent - self.checker.counts.transcripts < self.configuration.inFlight
        {
            self.sendChunk(context: context)
            sentAny = true
        }
        if sentAny { context.flush() }
    }

    private func sendChunk(context: ChannelHandlerContext) {
        _ = self.checker.didSend(size: self.payload.readableBytes)
        let now = Stopwatch.now()
        if self.outcome.firstSend == 0 { self.outcome.firstSend = now }
        self.sendTimes.append(now)
        let frame =
            if let deflate = self.deflate {
                WebSocketFrame(fin: true, rsv1: true, opcode: .binary, maskKey: .random(using: &self.maskKeys), data: deflate.deflate(self.payload))
            } else {
                WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(using: &self.maskKeys), data: self.payload)
            }
        context.write(Self.wrapOutboundOut(frame), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let now = Stopwatch.now()
            var data = frame.unmaskedData
            if frame.rsv1, let deflate = self.deflate {
                guard let inflated = try? deflate.inflate(data, limit: 1 << 20) else {
                    self.outcome.counts.malformed += 1
                    self.note("a compressed reply could not be inflated")
                    return
                }
                data = inflated
            }
            guard let message = ServerMessage(json: data) else {
                self.outcome.counts.malformed += 1
                self.note("unparseable message")
                return
            }
            switch self.checker.receive(message) {
            case .ack(let seq):
                self.outcome.reply(isTranscript: false, sent: self.sendTimes[Int(seq - 1)], at: now, logged: self.configuration.logsReplies)
            case .transcript(let seq):
                let sent = self.sendTimes[Int(seq - 1)]
                let micros = self.outcome.reply(isTranscript: true, sent: sent, at: now, logged: self.configuration.logsReplies)
                self.configuration.progress?.transcript(micros: micros)
                self.outcome.lastReply = now
                if self.configuration.rateMs <= 0 { self.fillWindow(context: context) }
            case .pong, .session, .final:
                break
            case .violation(let text):
                self.configuration.progress?.error()
                self.note(text)
            }
            if self.checker.counts.sent == self.configuration.messages, self.checker.isComplete, self.configuration.messages > 0 {
                self.finish(context: context)
            }
        case .connectionClose:
            if !self.done { self.outcome.closedEarly = true }
            self.finish(context: context)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        default:
            break
        }
    }

    private func note(_ violation: String) {
        if self.outcome.violations.count < 5 { self.outcome.violations.append(violation) }
    }

    /// Sends a normal close and reports; the server closes the socket when it answers.
    func finish(context: ChannelHandlerContext) {
        guard !self.done else { return }
        self.done = true
        // The pacer keeps the handler (a stream's entry is dropped when it comes), not the connection.
        self.pacing = nil
        var outcome = self.outcome
        let counts = self.checker.counts
        outcome.counts.add(counts)
        self.finished.succeed(outcome)
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .normalClosure)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        context.writeAndFlush(Self.wrapOutboundOut(close), promise: nil)
        let channel = context.channel
        context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is StartStreaming:
            self.start(context: context)
        case is FinishStreaming:
            self.finish(context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.configuration.progress?.disconnected()
        if !self.done {
            self.outcome.closedEarly = true
            self.finish(context: context)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.note("connection error: \(error)")
        context.close(promise: nil)
    }
}

extension StreamClientHandler.Outcome {
    /// Records an ack's or a transcript's latency (and, `logged`, the reply for
    /// `--latency-log`); returns it in microseconds.
    @discardableResult
    mutating func reply(isTranscript: Bool, sent: UInt64, at now: UInt64, logged: Bool) -> UInt32 {
        let micros = UInt32(min((now - sent) / 1000, UInt64(UInt32.max)))
        if isTranscript {
            self.transcriptMicros.append(micros)
        } else {
            self.ackMicros.append(micros)
        }
        if logged { self.replies.append(.init(sentNanos: sent, isTranscript: isTranscript, micros: micros)) }
        return micros
    }
}
