import GRPCCore

/// `--auth-tokens-file` for gRPC: every call needs `authorization: Bearer <token>` metadata.
struct GRPCAuthInterceptor: ServerInterceptor {
    let tokens: AuthTokens

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let header = request.metadata[stringValues: "authorization"].first(where: { _ in true })
        guard let header, header.lowercased().hasPrefix("bearer "), self.tokens.accepts(String(header.dropFirst(7))) else {
            throw RPCError(code: .unauthenticated, message: "unauthorized: a valid bearer token is required (metadata authorization: Bearer <token>)")
        }
        return try await next(request, context)
    }
}
