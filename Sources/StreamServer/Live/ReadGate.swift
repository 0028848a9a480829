import NIOCore

/// Backpressure on a connection: while paused, NIO's `read` requests are held back (so TCP
/// pushes back on the client) and the last one is passed on when reading may go on.
struct ReadGate {
    private var paused = false
    private var requested = false

    /// From the handler's `read(context:)`.
    mutating func read(_ context: ChannelHandlerContext) {
        if self.paused {
            self.requested = true
        } else {
            context.read()
        }
    }

    mutating func set(paused: Bool, _ context: ChannelHandlerContext) {
        guard paused != self.paused else { return }
        self.paused = paused
        if !paused && self.requested {
            self.requested = false
            context.read()
        }
    }
}
