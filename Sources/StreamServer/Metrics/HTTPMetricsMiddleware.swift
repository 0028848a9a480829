import Hummingbird
import Metrics

/// Times every HTTP request into `callstream_http_request_duration_seconds{route,method,status}`,
/// until its body is written. `route` is the matched pattern (`/calls/{id}`), never the raw
/// path, and unknown methods count as `other`: no label takes unbounded values.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    private static var knownMethods: Set<HTTPRequest.Method> { [.get, .head, .post, .put, .delete, .patch, .options, .trace, .connect] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let method = Self.knownMethods.contains(request.method) ? request.method.rawValue : "other"
        do {
            var response = try await next(request, context)
            let status = response.status.code
            let route = Self.route(context)
            let body = response.body
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                defer { self.record(route: route, method: method, status: status, since: started) }
                try await body.write(writer)
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            self.record(route: Self.route(context), method: method, status: status, since: started)
            throw error
        }
    }

    /// The matched pattern; `unmatched` when no route matched (Hummingbird says "NotFound").
    private static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path != "NotFound" else { return "unmatched" }
        return path
    }

    private func record(route: String, method: String, status: Int, since started: ContinuousClock.Instant) {
        Metrics.Timer(
            label: "callstream_http_request_duration_seconds",
            dimensions: [("route", route), ("method", method), ("status", String(status))],
            factory: self.metrics.factory
        ).record(duration: ContinuousClock.now - started)
    }
}
