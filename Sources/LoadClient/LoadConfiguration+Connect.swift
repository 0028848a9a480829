import NIOCore
import StreamClient

extension LoadConfiguration {
    /// One WebSocket connection to the configured server (host, port, path, headers, TLS), on
    /// `eventLoop`, with `handler` reading its frames.
    func connect(on eventLoop: any EventLoop, handler: @escaping @Sendable () -> any ChannelHandler) async throws -> any Channel {
        let (channel, _) = try await WebSocketConnector.connect(
            host: self.host,
            port: self.port,
            path: self.path,
            group: eventLoop,
            headers: self.headers,
            tls: self.tls
        ) { _ in (handler(), ()) }
        return channel
    }
}
