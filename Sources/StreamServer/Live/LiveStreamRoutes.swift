import Foundation
import HTTPTypes
import Hummingbird

/// `GET /api/audio/ws` (or `/api/twilio/ws`) without a successful upgrade: say why in the
/// usual error shape (and count it as a rejected connection).
struct LiveStreamRoutes<Context: RequestContext>: Sendable {
    let streams: LiveStreams
    let sessions: LiveSessions
    let repository: any CallRepository

    func addRoutes(to router: Router<Context>) {
        for path in [LiveStreamChannel.path, TwilioIngress.path] {
            router.get(RouterPath(path)) { request, _ -> Response in try self.refuse(request) }
        }
        router.get("/calls/:id/live") { request, context -> Response in try await self.refuseSubscription(request, context: context) }
    }

    /// `GET /calls/{id}/live` that was not upgraded: no such call, not live now, or not a
    /// WebSocket request.
    private func refuseSubscription(_ request: Request, context: Context) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text), let call = try await self.repository.find(id: id) else {
            throw APIError(.notFound, code: "call_not_found", message: "no call with this id")
        }
        if call.call.isPrivate {
            throw APIError(.forbidden, code: "recording_private", message: "this call's recording and transcript are private")
        }
        if self.sessions.feed(forCall: id) == nil {
            throw APIError(
                .conflict,
                code: "call_not_live",
                message: "no live session is recording this call: GET /calls/{id}/transcript has what it said"
            )
        }
        return try self.refuse(request)
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
