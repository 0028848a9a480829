import NIOCore
import NIOPosix
import NIOWebSocket
import Protocol
import StreamClient

/// One started session of the load client, across however many connections it takes: sends
/// `start`, streams the WAV's chunks at real-time pace (or as fast as the window allows),
/// drops its connection every `dropAfterSeconds` and resumes it, and with `stop` checks the
/// `stopped` counts. Every ack and transcript goes through `StreamChecker`, with each
/// transcript's `start_ms`/`end_ms` checked against the chunk's place in the audio.
///
/// Confinement: everything runs on `eventLoop` (each connection is opened on it too), which is
/// why the class can be handed to tasks as `Sendable`.
final class SessionStream: SendPacer.Client, @unchecked Sendable {
    let configuration: LoadConfiguration
    private let audio: SessionAudio
    private let eventLoop: any EventLoop
    private let finished: EventLoopPromise<StreamClientHandler.Outcome>
    private var checker: StreamChecker
    private var outcome = StreamClientHandler.Outcome()
    private var channel: (any Channel)?
    private var token: String?
    /// Index of the next chunk to send (its seq is `next + 1`).
    private var next = 0
    private var framesBefore: [Int64] = []
    private var sendTimes: [UInt64]
    private let pacer: SendPacer
    /// This session's number in `pacer` (registered when streaming begins).
    private var pacerClient: Int32 = -1
    /// The current send entry's ticket; a new one makes the entries before it stale.
    private var sendTicket: UInt32 = 0
    private var dropTimer: Scheduled<Void>?
    private var resuming = false
    private var maskKeys = MaskKeySource()
    private var stopSent = false
    private var done = false
    /// Answered by `started` (or failed: an error, a close, the deadline); when `start` went out.
    private let started: EventLoopPromise<Void>
    private var startSent: UInt64 = 0
    private var isStarted = false

    init(configuration: LoadConfiguration, audio: SessionAudio, eventLoop: any EventLoop, pacer: SendPacer) {
        self.configuration = configuration
        self.audio = audio
        self.eventLoop = eventLoop
        self.pacer = pacer
        self.finished = eventLoop.makePromise()
        self.started = eventLoop.makePromise()
        self.checker = StreamChecker(expectsMockText: configuration.checkMockText)
        self.sendTimes = [UInt64](repeating: 0, count: audio.messages.count)
        var total: Int64 = 0
        for frames in audio.frames {
            self.framesBefore.append(total)
            total += Int64(frames)
        }
    }

    var result: EventLoopFuture<StreamClientHandler.Outcome> { self.finished.futureResult }

    /// Connects and starts, and returns once the server has answered `started`; the first
    /// connection failing, or an error instead of `started`, fails the session.
    func run() async throws {
        do {
            try await self.connect()
        } catch {
            self.eventLoop.execute { self.finish() }
            throw error
        }
        try await self.eventLoop.flatSubmit {
            self.startSent = Stopwatch.now()
            let timeout = self.eventLoop.scheduleTask(in: .milliseconds(Int64(self.configuration.timeoutSeconds * 1000))) {
                self.note("no started within \(self.configuration.timeoutSeconds) s")
                self.finish()
            }
            self.started.futureResult.whenComplete { _ in timeout.cancel() }
            self.sendControl([
                "\"type\":\"start\"", "\"codec\":\"\(self.audio.codec)\"", "\"sample_rate\":\(self.audio.sampleRate)",
                "\"channels\":\(self.audio.channels)", "\"record\":\(self.configuration.record)",
            ])
            return self.started.futureResult
        }.get()
    }

    /// Starts streaming: chunk i is due at `instant + phase + i × chunk`, with a random phase
    /// within one chunk, as real calls have (and as the plain streams' load does).
    func beginStreaming(at instant: NIODeadline) {
        let chunk = Int64(self.configuration.chunkMs) * 1_000_000
        self.eventLoop.execute {
            guard !self.done else { return }
            self.startTime = instant + .nanoseconds(chunk > 0 ? Int64.random(in: 0..<chunk) : 0)
            self.pacerClient = self.pacer.register(self)
            if self.configuration.dropAfterSeconds > 0 { self.scheduleDrop() }
            self.scheduleSending()
        }
    }

    private func connect() async throws {
        let loopBound = self
        let channel = try await self.configuration.connect(on: self.eventLoop) { SessionFrameHandler(stream: loopBound) }
        try await self.eventLoop.submit { self.channel = channel }.get()
    }

    // MARK: sending

    private func sendControl(_ members: [String]) {
        guard let channel = self.channel else { return }
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: "{" + members.joined(separator: ",") + "}"))
        channel.writeAndFlush(frame, promise: nil)
    }

    /// Real time: chunk i is due at `start + i × chunk`; a resume sends the backlog at once.
    private func scheduleSending() {
        self.cancelSending()
        guard !self.done, !self.resuming else { return }
        if self.configuration.rateMs <= 0 {
            return self.fillWindow()
        }
        // Everything sent (the stop too, with --stop): nothing left to schedule.
        guard self.next < self.audio.messages.count else { return }
        let due = self.startTime + .milliseconds(Int64(self.configuration.chunkMs) * Int64(self.next))
        self.pacer.schedule(self.pacerClient, at: due, ticket: self.sendTicket)
    }

    /// The pacer's call: the next chunk is due.
    func due(ticket: UInt32) {
        guard ticket == self.sendTicket else { return }
        self.sendNext(count: 1)
        self.scheduleSending()
    }

    /// Whatever send is scheduled will not happen.
    private func cancelSending() {
        self.sendTicket &+= 1
    }

    private var startTime = NIODeadline.now()

    private func fillWindow() {
        let inFlight = self.next - Int(self.checker.lastAnswered)
        self.sendNext(count: max(0, self.configuration.inFlight - inFlight))
    }

    private func sendNext(count: Int) {
        guard let channel = self.channel, !self.resuming else { return }
        var sent = 0
        while sent < count, self.next < self.audio.messages.count {
            let index = self.next
            _ = self.checker.didSend(
                size: self.audio.messages[index].readableBytes,
                span: self.audio.span(index, framesBefore: self.framesBefore[index])
            )
            let now = Stopwatch.now()
            if self.outcome.firstSend == 0 { self.outcome.firstSend = now }
            self.sendTimes[index] = now
            let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(using: &self.maskKeys), data: self.audio.messages[index])
            channel.write(frame, promise: nil)
            self.next += 1
            sent += 1
        }
        if sent > 0 { channel.flush() }
        if self.next == self.audio.messages.count, self.configuration.stop, !self.stopSent {
            self.stopSent = true
            self.sendControl(["\"type\":\"stop\""])
        }
    }

    // MARK: receiving

    func received(_ frame: WebSocketFrame, on channel: any Channel) {
        guard channel === self.channel else { return }
        switch frame.opcode {
        case .text:
            let now = Stopwatch.now()
            guard let message = ServerMessage(json: frame.unmaskedData) else {
                return self.note("unparseable message")
            }
            if message.kind == .error, message.seq == nil, message.error?.code == "session_attached", self.resuming {
                // The server has not seen the old connection go yet: ask again shortly.
                self.eventLoop.scheduleTask(in: .milliseconds(20)) { self.sendResume() }
                return
            }
            if message.kind == .error, message.seq == nil, self.resuming {
                // A refused resume: nothing more will come for this session.
                self.note("resume refused: \(message.error?.code ?? "?"): \(message.error?.message ?? "")")
                self.outcome.counts.serverErrors += 1
                return self.finish()
            }
            if message.kind == .error, message.seq == nil, !self.isStarted {
                // The start refused: the session never began.
                self.outcome.counts.serverErrors += 1
                self.note("start refused: \(message.error?.code ?? "?"): \(message.error?.message ?? "")")
                return self.finish()
            }
            switch self.checker.receive(message) {
            case .ack(let seq):
                self.outcome.reply(isTranscript: false, sent: self.sendTimes[Int(seq - 1)], at: now, logged: self.configuration.logsReplies)
            case .transcript(let seq):
                let sent = self.sendTimes[Int(seq - 1)]
                let micros = self.outcome.reply(isTranscript: true, sent: sent, at: now, logged: self.configuration.logsReplies)
                self.configuration.progress?.transcript(micros: micros)
                self.outcome.lastReply = now
                if self.configuration.rateMs <= 0 { self.fillWindow() }
            case .session:
                self.session(message)
            case .final:
                self.outcome.finals.append((message.channel ?? 0, message.startMs ?? 0, message.text ?? ""))
                if self.configuration.rateMs > 0, let endMs = message.endMs {
                    // At real-time pace the speech ended `end_ms` after the first chunk went out.
                    let spokenBy = self.startTime + .milliseconds(endMs)
                    let lag = NIODeadline.now() - spokenBy
                    self.outcome.finalLagMicros.append(UInt32(clamping: max(0, lag.nanoseconds / 1000)))
                }
            case .pong:
                break
            case .violation(let text):
                self.configuration.progress?.error()
                self.note(text)
            }
            if !self.configuration.stop, self.next == self.audio.messages.count, self.checker.isComplete {
                self.finish()
            }
        case .connectionClose:
            if self.stopSent, self.checker.isComplete, self.outcome.stopped {
                self.finish()
            } else if !self.resuming {
                self.outcome.closedEarly = true
                self.finish()
            }
        default:
            break
        }
    }

    private func session(_ message: ServerMessage) {
        switch message.kind {
        case .started:
            self.token = message.resumeToken
            self.outcome.callID = message.callID
            self.isStarted = true
            self.outcome.startMicros = UInt32(clamping: (Stopwatch.now() - self.startSent) / 1000)
            self.started.succeed()
        case .resumed:
            self.resuming = false
            self.outcome.resumes += 1
            if case .violation(let text) = self.checker.resumed(nextSeq: message.nextSeq ?? 0) { self.note(text) }
            self.next = Int(message.nextSeq ?? 1) - 1
            // A stop that may have been lost is sent again (a repeated stop changes nothing).
            self.stopSent = false
            // Catch up on what was not received, then carry on at the original pace.
            self.sendNext(count: self.configuration.rateMs <= 0 ? self.configuration.inFlight : max(0, self.dueChunks - self.next))
            self.scheduleDrop()
            self.scheduleSending()
        case .stopped:
            self.outcome.stopped = true
            let expectedDuration = Double(self.audio.totalFrames) / Double(self.audio.sampleRate)
            if message.chunks != self.audio.messages.count || message.bytes != self.audio.totalBytes || message.errors != 0
                || abs((message.durationSec ?? -1) - expectedDuration) > 0.001
            {
                self.note(
                    "stopped says \(message.chunks ?? -1) chunks, \(message.bytes ?? -1) bytes, \(message.durationSec ?? -1) s, \(message.errors ?? -1) errors"
                )
                self.outcome.counts.unexpected += 1
            }
        default:
            break
        }
    }

    /// Chunks due by now at real-time pace.
    private var dueChunks: Int {
        let elapsed = NIODeadline.now() - self.startTime
        return min(self.audio.messages.count, Int(elapsed.nanoseconds / (Int64(self.configuration.chunkMs) * 1_000_000)) + 1)
    }

    // MARK: dropping and resuming

    private func scheduleDrop() {
        self.dropTimer?.cancel()
        guard self.configuration.dropAfterSeconds > 0, !self.done else { return }
        self.dropTimer = self.eventLoop.scheduleTask(in: .milliseconds(Int64(self.configuration.dropAfterSeconds * 1000))) {
            self.drop()
        }
    }

    /// Closes the socket without a close frame (what a network failure looks like), then
    /// resumes on a new connection.
    private func drop() {
        guard !self.done, !self.outcome.stopped else { return }
        self.resuming = true
        self.cancelSending()
        let old = self.channel
        self.channel = nil
        old?.close(promise: nil)
        self.eventLoop.makeFutureWithTask {
            try await self.connect()
        }.whenComplete { result in
            switch result {
            case .success: self.sendResume()
            case .failure(let error):
                self.note("reconnect failed: \(error)")
                self.finish()
            }
        }
    }

    private func sendResume() {
        guard let token = self.token else { return }
        self.sendControl(["\"type\":\"resume\"", "\"resume_token\":\"\(token)\"", "\"last_seq\":\(self.checker.lastAnswered)"])
    }

    func closed(_ channel: any Channel) {
        guard channel === self.channel, !self.done else { return }
        if !(self.stopSent && self.outcome.stopped) { self.outcome.closedEarly = true }
        self.finish()
    }

    /// Gives up waiting (the run's deadline). Callable from any thread.
    func timeOut() {
        self.eventLoop.execute { self.finish() }
    }

    private func finish() {
        guard !self.done else { return }
        self.done = true
        self.cancelSending()
        self.dropTimer?.cancel()
        var outcome = self.outcome
        outcome.counts.add(self.checker.counts)
        if self.configuration.stop, !outcome.stopped {
            outcome.counts.unexpected += 1
            if outcome.violations.count < 5 { outcome.violations.append("no stopped message") }
        }
        self.finished.succeed(outcome)
        self.started.fail(SessionNotStarted(violations: outcome.violations))
        if let channel = self.channel {
            var data = channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: .normalClosure)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data), promise: nil)
            self.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    private func note(_ violation: String) {
        if self.outcome.violations.count < 5 { self.outcome.violations.append(violation) }
    }

}

/// A session that ended before the server answered its `start`.
struct SessionNotStarted: Error, CustomStringConvertible {
    let violations: [String]
    var description: String { "session not started: " + (self.violations.first ?? "closed") }
}

/// Hands one connection's frames to its session.
final class SessionFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let stream: SessionStream

    init(stream: SessionStream) {
        self.stream = stream
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if frame.opcode == .ping {
            context.writeAndFlush(
                Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)),
                promise: nil
            )
            return
        }
        self.stream.received(frame, on: context.channel)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.stream.configuration.progress?.connected()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stream.configuration.progress?.disconnected()
        self.stream.closed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
