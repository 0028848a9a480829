import Hummingbird

/// Applies the `AccessPolicy` to every route: 401 without a valid token, 403 for a live-stream
/// upgrade from an origin that is not allowed (the upgrade itself was already refused).
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let refusal = self.policy.check(uri: request.uri, headers: request.headers, isUpgradePath: request.uri.path == LiveStreamChannel.path)
        if let refusal { throw refusal.apiError }
        return try await next(request, context)
    }
}
