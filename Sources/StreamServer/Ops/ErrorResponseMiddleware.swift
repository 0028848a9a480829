import Hummingbird
import Logging

/// Every error leaves in the one shape `{"error":{"code","message"}}`: Hummingbird's own (an
/// unknown path, a body that is too large), a method the path does not have (405 with
/// `Allow`), a full disk (507 `insufficient_storage`), and anything unexpected (500
/// `internal_error`, logged with the request's id).
/// Errors become responses here, so the middleware outside (CORS, metrics) sees them too.
struct ErrorResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            // Hummingbird's not-found responder names the endpoint "NotFound": no route matched.
            if error.status == .notFound, context.endpointPath == nil || context.endpointPath == "NotFound" {
                let allowed = self.routes.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    var response = try APIError(
                        .methodNotAllowed,
                        code: "method_not_allowed",
                        message: "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))"
                    ).response(from: request, context: context)
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
                return try APIError(.notFound, code: "not_found", message: "no such endpoint: \(request.uri.path)")
                    .response(from: request, context: context)
            }
            var response = try APIError(error.status, code: Self.code(for: error.status), message: error.body ?? error.status.reasonPhrase)
                .response(from: request, context: context)
            for field in error.headers where response.headers[field.name] == nil {
                response.headers.append(field)
            }
            return response
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch  where StorageFull.matches(error) {
            context.logger.error("request failed: storage full", metadata: ["error": "\(error)"])
            return try StorageFull.apiError.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return try APIError(.internalServerError, code: "internal_error", message: "internal error").response(from: request, context: context)
        }
    }

    /// `413 Content Too Large` → `content_too_large`.
    static func code(for status: HTTPResponse.Status) -> String {
        let words = status.reasonPhrase.lowercased().split { !$0.isLetter && !$0.isNumber }
        return words.isEmpty ? "http_\(status.code)" : words.joined(separator: "_")
    }
}
