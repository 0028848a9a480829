import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Opens a client WebSocket (HTTP/1.1 upgrade, RFC 6455) and installs the caller's frame
/// handler. Shared by `load-client` and the tests so both speak to the server the same way.
public enum WebSocketConnector {
    public enum ConnectError: Error, CustomStringConvertible {
        case upgradeRefused

        public var description: String { "the server refused the WebSocket upgrade" }
    }

    /// A client TLS context for `wss://`; `insecure` accepts any certificate (self-signed test
    /// certificates). Make one per run: it is costly and shared by all connections.
    public static func tlsContext(insecure: Bool) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if insecure { configuration.certificateVerification = .none }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Connects to `ws://host:port/path`, or `wss://` with `tls` (sending `headers` with the upgrade request); once
    /// upgraded, `onUpgrade` sees the server's 101 head, `makeHandler` builds the handler for the
    /// channel (called on its event loop) and the channel plus what `makeHandler` returned are given back.
    public static func connect<Extra: Sendable>(
        host: String,
        port: Int,
        path: String,
        group: any EventLoopGroup,
        maxFrameSize: Int = 1 << 20,
        headers extraHeaders: [(String, String)] = [],
        tls: NIOSSLContext? = nil,
        onUpgrade: (@Sendable (HTTPResponseHead) -> Void)? = nil,
        makeHandler: @escaping @Sendable (any Channel) throws -> (any ChannelHandler, Extra)
    ) async throws -> (any Channel, Extra) {
        typealias Upgrade = (channel: any Channel, extra: Extra?)
        let negotiated = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // SNI and name checks need a host name; an IP address is sent as none.
                        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: isAddress ? nil : host))
                    }
                    let upgrader = MaskingWebSocketClientUpgrader<Upgrade>(
                        maxFrameSize: maxFrameSize,
                        upgradePipelineHandler: { channel, response in
                            onUpgrade?(response)
                            return channel.eventLoop.makeCompletedFuture {
                                let (handler, extra) = try makeHandler(channel)
                                try channel.pipeline.syncOperations.addHandler(handler)
                                return (channel, extra)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Content-Length", value: "0")
                    headers.add(contentsOf: extraHeaders)
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture((channel, nil)) }
                    )
                    // Frames the server sends right after its 101 can arrive in the same read: the
                    // HTTP decoder must hand them on (its default drops them).
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                }
            }
        let upgrade = try await negotiated.get()
        guard let extra = upgrade.extra else {
            try? await upgrade.channel.close()
            throw ConnectError.upgradeRefused
        }
        return (upgrade.channel, extra)
    }
}
