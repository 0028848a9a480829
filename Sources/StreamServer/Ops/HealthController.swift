import Hummingbird

/// Probes: the original service's `/api/audio/health`, liveness `/healthz`, readiness `/readyz`.
struct HealthController<Context: RequestContext>: Sendable {
    let streams: LiveStreams
    let workers: WorkerPool

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

        enum CodingKeys: String, CodingKey {
            case status, workers, expected, draining
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
        let body = Readiness(
            status: ready ? "ready" : "not_ready",
            workers: self.workers.slots.count - notReady.count,
            expected: self.workers.slots.count,
            notReady: notReady,
            draining: draining
        )
        return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: body)
    }
}
