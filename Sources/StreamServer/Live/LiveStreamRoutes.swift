import HTTPTypes
import Hummingbird

/// `GET /api/audio/ws` (or `/api/twilio/ws`) without a successful upgrade: say why in the
/// usual error shape (and count it as a rejected connection).
struct LiveStreamRoutes<Context: RequestContext>: Sendable {
    let streams: LiveStreams

    func addRoutes(to router: Router<Context>) {
        for path in [LiveStreamChannel.path, TwilioIngress.path] {
            router.get(RouterPath(path)) { request, _ -> Response in try self.refuse(request) }
        }
    }

    private func refuse(_ request: Request) throws -> Response {
        self.streams.metrics.connectionsRejected.increment()
        if !self.streams.isAccepting {
            throw APIError(.serviceUnavailable, code: "shutting_down", message: "the server is shutting down")
        }
        if request.headers[HTTPField.Name(UpgradeGate.refusedUpgradeHeader)!] != nil {
            if self.streams.isFull {
                var error = APIError(
                    .serviceUnavailable,
                    code: "server_full",
                    message: "the server holds its most connections (\(self.streams.limits.maxConnections)); try again shortly"
                )
                error.headers[.retryAfter] = "1"
                throw error
            }
            throw APIError(.badRequest, code: "bad_upgrade", message: "invalid WebSocket upgrade request (RFC 6455 §4.1)")
        }
        throw APIError(.upgradeRequired, code: "upgrade_required", message: "this endpoint speaks WebSocket only")
    }
}
