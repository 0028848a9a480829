import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Telephony

/// The Asterisk AudioSocket listener (`--audiosocket-port`, plain TCP): each connection gets an
/// `AudioSocketHandler` on the server's event loops. Stops listening on shutdown; the drain
/// closes the calls still open, like live streams.
struct AudioSocketServer: Service {
    let host: String
    let port: Int
    let eventLoopGroup: any EventLoopGroup
    let streams: LiveStreams
    let sessions: LiveSessions
    let workers: WorkerPool
    let logger: Logger

    func run() async throws {
        let streams = self.streams
        let sessions = self.sessions
        let workers = self.workers
        let logger = self.logger
        let listener = try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard streams.isAccepting, streams.reserveConnection(for: channel) else {
                        logger.warning("audiosocket connection refused: shutting down or full")
                        channel.close(promise: nil)
                        return
                    }
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "remote"] = "\(channel.remoteAddress?.description ?? "?")"
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(AudioSocketDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        AudioSocketHandler(streams: streams, sessions: sessions, workers: workers, logger: connectionLogger)
                    )
                }
            }
            .bind(host: self.host, port: self.port)
            .get()
        logger.info("AudioSocket on port \(listener.localAddress?.port ?? self.port)")
        try? await gracefulShutdown()
        try? await listener.close()
    }
}
