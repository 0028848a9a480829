import NIOCore
import NIOWebSocket

/// What carries a stream on its event loop, as the hub sees it: a WebSocket
/// (`AudioStreamHandler`) or an Asterisk AudioSocket connection (`AudioSocketHandler`).
/// Every call happens on that loop.
protocol LiveConnectionHandler: AnyObject {
    /// A plain stream's result, in seq order.
    func deliver(_ result: WorkerResult)
    /// A session's rendered answers; after `stopped` (`closeAfter`) the connection closes.
    func deliverSession(_ messages: [ByteBuffer], closeAfter: Bool, receivedAt: NIODeadline?)
    /// Writes what the deliveries of one batch gathered.
    func flushOutgoing(then: (@Sendable () -> Void)?)
    /// Ends the connection (the server is shutting down, or a limit was hit).
    func close(code: WebSocketErrorCode, reason: String)
    /// Called by the loop's timer: close if idle or not reading for too long.
    func checkTimeouts(now: NIODeadline, settings: StreamTimeouts.Settings)
}
