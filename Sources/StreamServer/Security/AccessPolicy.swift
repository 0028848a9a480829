import HTTPTypes
import HummingbirdCore
import HummingbirdAuth

/// Who may use the server: the bearer tokens (`--auth-tokens-file`) and the browser origins
/// allowed to open live streams (`--cors-origin`). One policy for the REST routes and the
/// WebSocket upgrade, which is decided before any route runs.
struct AccessPolicy: Sendable {
    /// Without tokens, every request is let in.
    var tokens: AuthTokens?
    /// Browser origins allowed; empty: any.
    var origins: [String] = []

    /// Health checks stay open, so orchestrators need no token.
    static let openPaths: Set<String> = ["/healthz", "/readyz", "/api/audio/health"]

    enum Refusal: Error {
        case unauthorized
        case originNotAllowed

        var apiError: APIError {
            switch self {
            case .unauthorized:
                var error = APIError(.unauthorized, code: "unauthorized", message: "a valid bearer token is required (Authorization: Bearer <token>)")
                error.headers[.wwwAuthenticate] = "Bearer"
                return error
            case .originNotAllowed:
                return APIError(.forbidden, code: "origin_not_allowed", message: "this Origin may not open live streams")
            }
        }
    }

    /// Checks a request for `uri`. On an upgrade path the URL's `?token=` counts too: browsers
    /// cannot set headers on a WebSocket.
    func check(uri: URI, headers: HTTPFields, isUpgradePath: Bool) -> Refusal? {
        if let tokens = self.tokens, !Self.openPaths.contains(uri.path) {
            let token = headers.bearer?.token ?? (isUpgradePath ? uri.queryParameters["token"].map(String.init) : nil)
            guard let token, tokens.accepts(token) else { return .unauthorized }
        }
        if isUpgradePath, !self.allowsOrigin(headers[.origin]) {
            return .originNotAllowed
        }
        return nil
    }

    /// Clients other than browsers send no `Origin`; they are not refused for it.
    func allowsOrigin(_ origin: String?) -> Bool {
        guard let origin, !self.origins.isEmpty else { return true }
        return self.origins.contains(origin)
    }
}
