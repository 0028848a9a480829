import Atomics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOWebSocket

/// The live-stream hub: hands out `client_id`s, knows every open stream, and is the sender
/// loop's back half: results from the workers are routed here to their connection.
///
/// Threading: connections live on their channel's event loop. Results arrive on a worker's
/// loop; they are grouped per target loop and handed over with one `execute` per loop per
/// batch, so a burst of results costs one thread hop, not one per message.
final class LiveStreams: WorkerResultSink, Sendable {
    struct Limits: Sendable {
        /// Largest binary message (one audio chunk); larger closes the stream with 1009.
        var maxChunkBytes = 1 << 20
        /// Largest text (control) message; larger closes the stream with 1009.
        var maxTextBytes = 64 << 10
        /// A stream stops being read while this many of its chunks await transcripts...
        var maxInFlightChunks = 64
        /// ...or while this many bytes of its audio await transcripts (at least one chunk).
        var maxInFlightBytes = 4 << 20
        /// How long to wait for the client's answer to our close frame.
        var closeTimeout: TimeAmount = .seconds(3)
        /// Open streams at most; past it upgrades are refused with 503 (`--max-connections`).
        var maxConnections = 10_000
        var timeouts = StreamTimeouts.Settings()

        /// Whether a stream with this much audio awaiting transcripts may send more.
        func hasRoom(after inFlight: (chunks: Int, bytes: Int)) -> Bool {
            inFlight.chunks < self.maxInFlightChunks && inFlight.bytes < self.maxInFlightBytes
        }
    }

    /// A registered stream: its loop and its handler, usable only on that loop.
    struct Connection: Sendable {
        let eventLoop: any EventLoop
        let handler: NIOLoopBound<any LiveConnectionHandler>
        /// The handler's identity, comparable from any thread.
        let id: ObjectIdentifier
    }

    private struct Routes {
        var connections: [UInt64: Connection] = [:]
        /// Started sessions by `client_id`: their answers go to the session, which knows
        /// whether (and where) a connection carries it.
        var sessions: [UInt64: LiveSession] = [:]
    }

    let limits: Limits
    let metrics: ServerMetrics
    private let lastClientID = ManagedAtomic<UInt64>(0)
    private let routes = NIOLockedValueBox(Routes())
    private let accepting = ManagedAtomic<Bool>(true)
    /// Chunks acked and not yet answered (or dropped because their stream went away).
    let inFlight = ManagedAtomic<Int>(0)
    /// Results whose stream had closed before they arrived.
    let droppedResults = ManagedAtomic<Int>(0)
    let totalStreams = ManagedAtomic<Int>(0)
    /// Upgraded connections and upgrades under way, for `maxConnections`.
    private let connectionSlots = ManagedAtomic<Int>(0)
    private let timeouts: [ObjectIdentifier: StreamTimeouts]

    init(limits: Limits, metrics: ServerMetrics, eventLoops: [any EventLoop]) {
        self.limits = limits
        self.metrics = metrics
        self.timeouts = Dictionary(
            uniqueKeysWithValues: eventLoops.map { (ObjectIdentifier($0), StreamTimeouts(eventLoop: $0, settings: limits.timeouts)) }
        )
    }

    /// The idle and send timer of `eventLoop` (one of the loops given at init).
    func timeouts(on eventLoop: any EventLoop) -> StreamTimeouts? {
        self.timeouts[ObjectIdentifier(eventLoop)]
    }

    /// Takes a connection slot for an upgrade, or says the server is full. The slot is given
    /// back when `channel` closes, however the upgrade ends.
    func reserveConnection(for channel: any Channel) -> Bool {
        let taken = self.connectionSlots.wrappingIncrementThenLoad(ordering: .relaxed)
        guard taken <= self.limits.maxConnections else {
            self.connectionSlots.wrappingDecrement(ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { _ in self.connectionSlots.wrappingDecrement(ordering: .relaxed) }
        return true
    }

    /// Whether every connection slot is taken (an upgrade now would be refused).
    var isFull: Bool { self.connectionSlots.load(ordering: .relaxed) >= self.limits.maxConnections }

    var isAccepting: Bool { self.accepting.load(ordering: .relaxed) }
    var openStreams: Int { self.routes.withLockedValue { $0.connections.count } }

    /// Stops new streams from being accepted (shutdown has begun).
    func stopAccepting() {
        self.accepting.store(false, ordering: .relaxed)
    }

    /// Registers a new stream and returns its `client_id`: unique since start, never reused.
    func register(_ handler: any LiveConnectionHandler, on eventLoop: any EventLoop) -> (UInt64, Connection) {
        let clientID = self.lastClientID.wrappingIncrementThenLoad(ordering: .relaxed)
        let connection = Connection(eventLoop: eventLoop, handler: NIOLoopBound(handler, eventLoop: eventLoop), id: ObjectIdentifier(handler))
        self.routes.withLockedValue { $0.connections[clientID] = connection }
        self.totalStreams.wrappingIncrement(ordering: .relaxed)
        return (clientID, connection)
    }

    func unregister(_ clientID: UInt64) {
        _ = self.routes.withLockedValue { $0.connections.removeValue(forKey: clientID) }
    }

    /// From now on the answers for `session.clientID` go to the session.
    func route(_ session: LiveSession) {
        self.routes.withLockedValue { $0.sessions[session.clientID] = session }
    }

    func unroute(_ clientID: UInt64) {
        _ = self.routes.withLockedValue { $0.sessions.removeValue(forKey: clientID) }
    }

    /// Routes a batch of worker results to their streams. Results for closed streams are
    /// dropped and counted; no stream can hold up another, since writes never block. Runs on
    /// the worker's loop, whose metrics count the transcripts and errors.
    func deliver(_ results: [WorkerResult]) {
        var batches: [ObjectIdentifier: (loop: any EventLoop, items: [(Connection, Handover)])] = [:]
        var dropped = 0
        var errors = 0
        var forSessions: [(LiveSession, WorkerResult)] = []
        var notes = 0
        self.routes.withLockedValue { routes in
            for result in results {
                guard result.isAnswer else {
                    // Finals and `sessionEnded` only concern sessions; no chunk is in flight for them.
                    notes += 1
                    if let session = routes.sessions[result.clientID] { forSessions.append((session, result)) }
                    continue
                }
                if case .failed = result.outcome, routes.sessions[result.clientID] != nil || routes.connections[result.clientID] != nil {
                    errors += 1
                }
                if let session = routes.sessions[result.clientID] {
                    forSessions.append((session, result))
                } else if let connection = routes.connections[result.clientID] {
                    batches[ObjectIdentifier(connection.eventLoop), default: (connection.eventLoop, [])].items.append((connection, .result(result)))
                } else {
                    dropped += 1
                }
            }
        }
        // Outside the lock: a session that ends here unroutes itself.
        for (session, result) in forSessions {
            if result.isAnswer { self.inFlight.wrappingDecrement(ordering: .relaxed) }
            guard let delivery = session.accept(result) else { continue }
            let connection = delivery.connection
            batches[ObjectIdentifier(connection.eventLoop), default: (connection.eventLoop, [])].items.append(
                (connection, .session(delivery.messages, closeAfter: delivery.closeAfter, receivedAt: delivery.receivedAt))
            )
        }
        if let loopMetrics = MultiThreadedEventLoopGroup.currentEventLoop.flatMap({ self.metrics.loop($0) }) {
            loopMetrics.counts.errors += UInt64(errors)
            loopMetrics.counts.transcripts += UInt64(results.count - notes - dropped - errors)
        }
        if dropped > 0 {
            self.droppedResults.wrappingIncrement(by: dropped, ordering: .relaxed)
            self.inFlight.wrappingDecrement(by: dropped, ordering: .relaxed)
        }
        for (_, batch) in batches {
            if batch.loop.inEventLoop {
                Self.handOver(batch.items)
            } else {
                let items = batch.items
                batch.loop.execute { Self.handOver(items) }
            }
        }
    }

    /// What a connection is handed: a plain stream's result, or a session's rendered answers.
    enum Handover: Sendable {
        case result(WorkerResult)
        case session([ByteBuffer], closeAfter: Bool, receivedAt: NIODeadline?)
    }

    /// Hands a session's messages to `connection`, on its loop; called on a worker's loop, so
    /// they follow the answers routed from there before.
    func handOver(_ messages: [ByteBuffer], closeAfter: Bool, to connection: Connection) {
        let items = [(connection, Handover.session(messages, closeAfter: closeAfter, receivedAt: nil))]
        if connection.eventLoop.inEventLoop {
            Self.handOver(items)
        } else {
            connection.eventLoop.execute { Self.handOver(items) }
        }
    }

    private static func handOver(_ items: [(Connection, Handover)]) {
        for (connection, item) in items {
            switch item {
            case .result(let result): connection.handler.value.deliver(result)
            case .session(let messages, let closeAfter, let receivedAt):
                connection.handler.value.deliverSession(messages, closeAfter: closeAfter, receivedAt: receivedAt)
            }
        }
        for (connection, _) in items {
            connection.handler.value.flushOutgoing(then: nil)
        }
    }

    /// Closes every open stream with `code` (1001 on shutdown).
    func closeAll(code: WebSocketErrorCode) {
        let all = self.routes.withLockedValue { Array($0.connections.values) }
        for connection in all {
            connection.eventLoop.execute { connection.handler.value.close(code: code, reason: "server shutting down") }
        }
    }
}
