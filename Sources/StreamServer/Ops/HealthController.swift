import Hummingbird

/// Probes: the original service's `/api/audio/health`, liveness `/healthz`, readiness `/readyz`.
struct HealthController<Context: RequestContext>: Sendable {
    let streams: LiveStreams
    let workers: WorkerPool
    let metrics: ServerMetrics
    /// `--engine`.
    let engine: String

    struct Status: ResponseEncodable {
        let status: String
    }

    struct Readiness: ResponseEncodable {
        let status: String
        let workers: Int
        let expected: Int
        /// Indices of workers that are not up (starting, or restarting after a crash).
        let notReady: [Int]
        let draining: Bool
        let engine: Engine

        /// The engine's capacity: live segments waiting for their finals over all workers,
        /// and the audio the most loaded worker has queued (how far its finals lag real time).
        /// Readiness does not depend on it: a busy engine delays finals, it loses nothing.
        struct Engine: Encodable {
            let name: String
            let segmentsQueued: Int
            let backlogSeconds: Double

            enum CodingKeys: String, CodingKey {
                case name
                case segmentsQueued = "segments_queued"
                case backlogSeconds = "backlog_seconds"
            }
        }

        enum CodingKeys: String, CodingKey {
            case status, workers, expected, draining, engine
            case notReady = "not_ready"
        }
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/api/audio/health") { _, _ in Status(status: "ok") }
        router.get("/healthz") { _, _ in Status(status: "ok") }
        router.get("/readyz") { _, _ in self.readiness() }
    }

    func readiness() -> EditedResponse<Readiness> {
        let notReady = self.workers.slots.filter { $0.phase != .ready }.map(\.index)
        let draining = !self.streams.isAccepting
        let ready = notReady.isEmpty && !draining
        let backlog = self.metrics.engineBacklog()
        let body = Readiness(
            status: ready ? "ready" : "not_ready",
            workers: self.workers.slots.count - notReady.count,
            expected: self.workers.slots.count,
            notReady: notReady,
            draining: draining,
            engine: Readiness.Engine(name: self.engine, segmentsQueued: backlog.segments, backlogSeconds: (backlog.seconds * 1000).rounded() / 1000)
        )
        return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: body)
    }
}
