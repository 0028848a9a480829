import Hummingbird

/// CORS for the REST API with `--cors-origin`: Hummingbird's `CORSMiddleware` answers
/// preflights and adds the headers, and this lets only the listed origins reach it (a request
/// from another origin goes on without CORS headers, so the browser keeps the response from
/// the page).
struct AllowedOriginsMiddleware<Context: RequestContext>: RouterMiddleware {
    let origins: [String]
    let cors: CORSMiddleware<Context>

    init(origins: [String]) {
        self.origins = origins
        self.cors = CORSMiddleware(
            allowOrigin: .originBased,
            allowHeaders: [.accept, .authorization, .contentType, .origin, .range, .init("Idempotency-Key")!, .init("X-Request-Id")!],
            allowMethods: [.get, .post, .delete, .head, .options],
            exposedHeaders: ["X-Request-Id", "Content-Range", "Accept-Ranges", "Retry-After", "Location"],
            maxAge: .seconds(600)
        )
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // WebSocket upgrades do not use CORS; their Origin is checked by the `AccessPolicy`.
        guard request.uri.path != LiveStreamChannel.path else { return try await next(request, context) }
        if let origin = request.headers[.origin], !self.origins.contains(origin) {
            return try await next(request, context)
        }
        return try await self.cors.handle(request, context: context, next: next)
    }
}
