import NIOCore

/// The streams of one event loop and the one repeating timer that closes those that have been
/// idle too long (`--idle-timeout`) or whose client stopped reading (`--send-timeout`): one
/// timer per loop, not one per connection, so an idle stream costs a dictionary entry.
final class StreamTimeouts: @unchecked Sendable {
    // @unchecked: `streams` and `task` are touched only on `eventLoop`.
    struct Settings: Sendable {
        /// Close a stream that sent nothing and awaits nothing for this long; nil: never.
        var idleTimeout: TimeAmount? = .seconds(60)
        /// Close a stream whose outgoing queue has been full for this long; nil: never.
        var sendTimeout: TimeAmount? = .seconds(30)

        /// How often the loop looks: a quarter of the shortest timeout, 50 ms to 1 s, so a
        /// stream is closed at most a quarter late.
        var sweepInterval: TimeAmount? {
            let shortest = [self.idleTimeout, self.sendTimeout].compactMap { $0 }.min()
            return shortest.map { min(max(.nanoseconds($0.nanoseconds / 4), .milliseconds(50)), .seconds(1)) }
        }
    }

    let eventLoop: any EventLoop
    let settings: Settings
    private var streams: [ObjectIdentifier: any LiveConnectionHandler] = [:]
    private var task: RepeatedTask?

    init(eventLoop: any EventLoop, settings: Settings) {
        self.eventLoop = eventLoop
        self.settings = settings
    }

    func add(_ handler: any LiveConnectionHandler) {
        self.eventLoop.preconditionInEventLoop()
        self.streams[ObjectIdentifier(handler)] = handler
        if self.task == nil, let interval = self.settings.sweepInterval {
            self.task = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in self.sweep() }
        }
    }

    func remove(_ handler: any LiveConnectionHandler) {
        self.streams.removeValue(forKey: ObjectIdentifier(handler))
    }

    private func sweep() {
        let now = NIODeadline.now()
        // A copy: closing a stream may remove it.
        for handler in Array(self.streams.values) {
            handler.checkTimeouts(now: now, settings: self.settings)
        }
    }
}
