import Foundation
import NIOConcurrencyHelpers
import NIOCore
import WebSocketDeflate
import NIOPosix
import NIOWebSocket
import StreamClient

/// Opens the connections, lets each run its stream, and gathers what they saw.
struct LoadRun {
    let configuration: LoadConfiguration
    let group: any EventLoopGroup
    /// Each loop's pacer: what every stream on it sends at real-time pace goes by it.
    private let pacers: [ObjectIdentifier: SendPacer]

    init(configuration: LoadConfiguration, group: any EventLoopGroup) {
        self.configuration = configuration
        self.group = group
        self.pacers = Dictionary(uniqueKeysWithValues: group.makeIterator().map { (ObjectIdentifier($0), SendPacer(eventLoop: $0)) })
    }

    private func pacer(on eventLoop: any EventLoop) -> SendPacer {
        guard let pacer = self.pacers[ObjectIdentifier(eventLoop)] else { preconditionFailure("a loop outside the run's group") }
        return pacer
    }

    struct Result: Sendable {
        var opened = 0
        var failed = 0
        var outcomes: [StreamClientHandler.Outcome] = []
        var connectErrors: [String] = []
    }

    /// `--twilio`: every client a Twilio Media Streams stream of the WAV (8 kHz mono), at
    /// real-time pace; the outcomes once every stream has closed (or timed out).
    func runTwilio(_ audio: SessionAudio) async -> (outcomes: [TwilioStream.Outcome], failed: Int, errors: [String]) {
        let payloads = audio.messages.map { Data($0.readableBytesView).base64EncodedString() }
        var streams: [TwilioStream] = []
        var failed = 0
        var errors: [String] = []
        await withTaskGroup(of: (TwilioStream, String?).self) { group in
            var launched = 0
            func launch() {
                let stream = TwilioStream(index: launched, configuration: self.configuration, payloads: payloads, eventLoop: self.group.next())
                group.addTask {
                    do {
                        try await stream.run()
                        return (stream, nil)
                    } catch {
                        return (stream, "\(error)")
                    }
                }
                launched += 1
            }
            while launched < min(self.configuration.connectParallelism, self.configuration.clients) { launch() }
            for await (stream, error) in group {
                if let error {
                    failed += 1
                    if errors.count < 5 { errors.append(error) }
                } else {
                    streams.append(stream)
                }
                if launched < self.configuration.clients { launch() }
            }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64((Double(payloads.count) * 0.02 + self.configuration.timeoutSeconds) * 1000))
        var outcomes: [TwilioStream.Outcome] = []
        for stream in streams {
            let timer = Task {
                try await Task.sleep(for: deadline - ContinuousClock.now)
                stream.timeOut()
            }
            if let outcome = try? await stream.result.get() { outcomes.append(outcome) }
            timer.cancel()
        }
        return (outcomes, failed, errors)
    }

    /// Started sessions streaming `audio` (`--wav`): each connects and starts (with bounded
    /// parallelism), then all stream together; the outcomes once every session has ended.
    func runSessions(_ audio: SessionAudio) async -> Result {
        var result = Result()
        var sessions: [SessionStream] = []
        await withTaskGroup(of: (SessionStream, String?).self) { group in
            var launched = 0
            func launch() {
                let eventLoop = self.group.next()
                let session = SessionStream(configuration: self.configuration, audio: audio, eventLoop: eventLoop, pacer: self.pacer(on: eventLoop))
                group.addTask {
                    do {
                        try await session.run()
                        return (session, nil)
                    } catch {
                        return (session, "\(error)")
                    }
                }
                launched += 1
            }
            while launched < min(self.configuration.connectParallelism, self.configuration.clients) { launch() }
            for await (session, error) in group {
                if let error {
                    result.failed += 1
                    if result.connectErrors.count < 5 { result.connectErrors.append(error) }
                } else {
                    result.opened += 1
                    sessions.append(session)
                }
                if launched < self.configuration.clients { launch() }
            }
        }
        // Stream only once every session has started, so that they run concurrently and the
        // setup (handshakes, starts) is measured on its own, as the plain streams' load does.
        let instant = NIODeadline.now()
        for session in sessions { session.beginStreaming(at: instant) }
        let streamSeconds = self.configuration.rateMs > 0 ? Double(audio.messages.count * self.configuration.chunkMs) / 1000 : 0
        let deadline = ContinuousClock.now + .milliseconds(Int64((streamSeconds + self.configuration.timeoutSeconds) * 1000))
        for session in sessions {
            let remaining = deadline - ContinuousClock.now
            let timer = Task {
                try await Task.sleep(for: remaining)
                session.timeOut()
            }
            if let outcome = try? await session.result.get() {
                result.outcomes.append(outcome)
            }
            timer.cancel()
        }
        return result
    }

    func run() async -> Result {
        var result = Result()
        let payload = Self.payload(bytes: self.configuration.chunkBytes)
        let started = NIOLockedValueBox<[(EventLoopFuture<StreamClientHandler.Outcome>, any Channel)]>([])

        // Connect with bounded parallelism: thousands of simultaneous SYNs overflow the
        // server's accept backlog and turn into retransmission delays, not load.
        await withTaskGroup(of: (Bool, String?).self) { group in
            var launched = 0
            func launch() {
                group.addTask {
                    do {
                        let (future, channel) = try await self.connect(payload: payload)
                        started.withLockedValue { $0.append((future, channel)) }
                        return (true, nil)
                    } catch {
                        return (false, "\(error)")
                    }
                }
                launched += 1
            }
            while launched < min(self.configuration.connectParallelism, self.configuration.clients) { launch() }
            for await (ok, error) in group {
                if ok {
                    result.opened += 1
                } else {
                    result.failed += 1
                    if let error, result.connectErrors.count < 5 { result.connectErrors.append(error) }
                }
                if launched < self.configuration.clients { launch() }
            }
        }

        let streams = started.withLockedValue { $0 }
        // Start every stream only once all are connected, so they run concurrently.
        for (_, channel) in streams {
            channel.pipeline.fireUserInboundEventTriggered(StartStreaming())
        }
        if self.configuration.holdSeconds > 0 {
            try? await Task.sleep(for: .milliseconds(Int64(self.configuration.holdSeconds * 1000)))
        }
        if self.configuration.messages == 0 {
            for (_, channel) in streams {
                channel.pipeline.fireUserInboundEventTriggered(FinishStreaming())
            }
        }
        let sendTime = self.configuration.rateMs > 0 ? Double(self.configuration.messages) * self.configuration.rateMs / 1000 : 0
        let deadline = ContinuousClock.now + .milliseconds(Int64((sendTime + self.configuration.timeoutSeconds) * 1000))
        for (future, channel) in streams {
            let remaining = deadline - ContinuousClock.now
            let timeout = channel.eventLoop.scheduleTask(
                in: .nanoseconds(max(Int64(remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000), 0))
            ) {
                channel.pipeline.fireUserInboundEventTriggered(FinishStreaming())
            }
            if let outcome = try? await future.get() {
                result.outcomes.append(outcome)
            }
            timeout.cancel()
        }
        for (_, channel) in streams {
            try? await channel.closeFuture.get()
        }
        return result
    }

    /// Chunk content: a fixed pattern (the mock engine only counts bytes).
    private static func payload(bytes: Int) -> ByteBuffer {
        var payload = ByteBufferAllocator().buffer(capacity: bytes)
        for index in 0..<bytes {
            payload.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ 7))
        }
        return payload
    }

    private func connect(payload: ByteBuffer) async throws -> (EventLoopFuture<StreamClientHandler.Outcome>, any Channel) {
        let configuration = self.configuration
        let agreed = NIOLockedValueBox<String?>(nil)
        let (channel, finished) = try await WebSocketConnector.connect(
            host: configuration.host,
            port: configuration.port,
            path: configuration.path,
            group: self.group,
            headers: configuration.headers + (configuration.compression ? [("Sec-WebSocket-Extensions", "permessage-deflate")] : []),
            tls: configuration.tls,
            onUpgrade: { head in agreed.withLockedValue { $0 = head.headers.first(name: "Sec-WebSocket-Extensions") } }
        ) { channel in
            var deflate: PerMessageDeflate?
            if configuration.compression {
                guard let parameters = agreed.withLockedValue({ $0 }).flatMap(PerMessageDeflate.accepted) else {
                    throw CompressionRefused()
                }
                deflate = try PerMessageDeflate(parameters, role: .client)
            }
            let finished = channel.eventLoop.makePromise(of: StreamClientHandler.Outcome.self)
            let handler = StreamClientHandler(
                configuration: configuration,
                payload: payload,
                finished: finished,
                pacer: self.pacer(on: channel.eventLoop),
                deflate: deflate
            )
            return (handler, finished.futureResult)
        }
        return (finished, channel)
    }
}

struct CompressionRefused: Error, CustomStringConvertible {
    var description: String { "the server did not agree to permessage-deflate (start it with --ws-compression)" }
}

/// User events that drive a connected stream.
struct StartStreaming {}
struct FinishStreaming {}
