import Hummingbird

/// `GET /api/audio/ws` without a successful upgrade: say why in the usual error shape (and
/// count it as a rejected connection).
struct LiveStreamRoutes<Context: RequestContext>: Sendable {
    let streams: LiveStreams

    func addRoutes(to router: Router<Context>) {
        router.get("/api/audio/ws") { request, _ -> Response in
            self.streams.metrics.connectionsRejected.increment()
            if !self.streams.isAccepting {
                throw APIError(.serviceUnavailable, code: "shutting_down", message: "the server is shutting down")
            }
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                throw APIError(.badRequest, code: "bad_upgrade", message: "invalid WebSocket upgrade request (RFC 6455 §4.1)")
            }
            throw APIError(.upgradeRequired, code: "upgrade_required", message: "this endpoint speaks WebSocket only")
        }
    }
}
