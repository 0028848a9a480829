import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Opens the connections, lets each run its stream, and gathers what they saw.
struct LoadRun {
    let configuration: LoadConfiguration
    let group: any EventLoopGroup

    struct Result: Sendable {
        var opened = 0
        var failed = 0
        var outcomes: [StreamClientHandler.Outcome] = []
        var connectErrors: [String] = []
        var timedOut = 0
    }

    private enum Upgrade: Sendable {
        case upgraded(EventLoopFuture<StreamClientHandler.Outcome>)
        case refused
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
            let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(max(Int64(remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000), 0))) {
                channel.pipeline.fireUserInboundEventTriggered(FinishStreaming())
            }
            if let outcome = try? await future.get() {
                result.outcomes.append(outcome)
                if outcome.closedEarly == false, outcome.counts.transcripts < outcome.counts.sent || outcome.counts.acks < outcome.counts.sent {
                    result.timedOut += 1
                }
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
        let upgrade = try await ClientBootstrap(group: self.group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<(Upgrade, any Channel)>(
                        maxFrameSize: 1 << 20,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let finished = channel.eventLoop.makePromise(of: StreamClientHandler.Outcome.self)
                                let handler = StreamClientHandler(configuration: configuration, payload: payload, finished: finished)
                                try channel.pipeline.syncOperations.addHandler(handler)
                                return (Upgrade.upgraded(finished.futureResult), channel)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(configuration.host):\(configuration.port)")
                    headers.add(name: "Content-Length", value: "0")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: configuration.path, headers: headers)
                    let upgradeConfiguration = NIOTypedHTTPClientUpgradeConfiguration<(Upgrade, any Channel)>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture((.refused, channel)) }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: upgradeConfiguration)
                    )
                }
            }
        let (result, channel) = try await upgrade.get()
        switch result {
        case .upgraded(let future):
            return (future, channel)
        case .refused:
            try? await channel.close()
            throw LoadError.upgradeRefused
        }
    }
}

/// User events that drive a connected stream.
struct StartStreaming {}
struct FinishStreaming {}

enum LoadError: Error, CustomStringConvertible {
    case upgradeRefused
    case badURL(String)

    var description: String {
        switch self {
        case .upgradeRefused: "the server refused the WebSocket upgrade"
        case .badURL(let url): "not a ws:// URL: \(url)"
        }
    }
}
