import Hummingbird

/// `GET /metrics`: the Prometheus text exposition of the whole process tree (the workers'
/// figures come in their `stats` frames).
struct MetricsController<Context: RequestContext>: Sendable {
    let metrics: ServerMetrics
    let streams: LiveStreams
    let sessions: LiveSessions
    let workers: WorkerPool
    let repository: any CallRepository

    func addRoutes(to router: Router<Context>) {
        router.get("/metrics") { _, _ -> Response in
            let text = await self.metrics.render(await self.levels())
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
    }

    private func levels() async -> ServerMetrics.Levels {
        var levels = ServerMetrics.Levels()
        levels.connections = self.streams.openStreams
        levels.droppedResults = self.streams.droppedResults.load(ordering: .relaxed)
        (levels.liveSessions, levels.waitingSessions) = self.sessions.counts()
        for slot in self.workers.slots {
            switch slot.phase {
            case .ready: levels.workersUp += 1
            case .starting, .down: levels.workersStarting += 1
            case .stopped: break
            }
            levels.queueDepth += slot.pendingCount + slot.jobCount
        }
        levels.recordings = (try? await self.repository.recordingCounts()) ?? [:]
        return levels
    }
}
