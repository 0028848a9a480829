import Logging
import NIOWebSocket
import ServiceLifecycle

/// The first step of graceful shutdown. ServiceLifecycle stops services in reverse order, so
/// this one (added last) runs before the HTTP server's own shutdown, which would otherwise
/// drop open streams at once: readiness goes 503, new upgrades are refused, transcripts still
/// owed are delivered (up to `drainTimeout`), then every stream is closed with 1001.
struct DrainService: Service {
    let streams: LiveStreams
    let drainTimeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        self.streams.stopAccepting()
        self.logger.info(
            "draining",
            metadata: ["streams": "\(self.streams.openStreams)", "in_flight": "\(self.streams.inFlight.load(ordering: .relaxed))"]
        )
        let clock = ContinuousClock()
        let deadline = clock.now + self.drainTimeout
        while self.streams.inFlight.load(ordering: .relaxed) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        let owed = self.streams.inFlight.load(ordering: .relaxed)
        if owed > 0 {
            self.logger.warning("drain timeout: closing streams with transcripts still owed", metadata: ["in_flight": "\(owed)"])
        }
        self.streams.closeAll(code: .goingAway)
        let closeDeadline = clock.now + .nanoseconds(self.streams.limits.closeTimeout.nanoseconds) + .seconds(1)
        while self.streams.openStreams > 0, clock.now < closeDeadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        self.logger.info(
            "drained",
            metadata: [
                "open_streams": "\(self.streams.openStreams)",
                "streams_served": "\(self.streams.totalStreams.load(ordering: .relaxed))",
                "results_dropped_for_closed_streams": "\(self.streams.droppedResults.load(ordering: .relaxed))",
            ]
        )
    }
}
