import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `Idempotency-Key` on `POST /calls` and `POST /calls/{id}/recording`: a retry with the same
/// key and the same request gets the first answer (status and body) for 24 hours and changes
/// nothing; the same key with a different request gets 422 `idempotency_key_reused`; a retry
/// while the first is still running gets 409 `idempotency_key_in_use`.
///
/// What is kept: every answer but a 409 (a concurrent twin's refusal must not become the key's
/// answer) and a 5xx (the request may succeed when retried).
struct IdempotencyKeys: Sendable {
    static let window: TimeInterval = 24 * 3600
    let repository: any CallRepository

    /// The request's key: nil without one; 400 unless 1 to 255 visible ASCII characters.
    static func key(of request: Request) throws -> String? {
        try Self.key(request.headers[.idempotencyKey])
    }

    /// A key's value checked (an HTTP header's, or gRPC metadata's).
    static func key(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(.badRequest, code: "invalid_idempotency_key", message: "Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        return value
    }

    /// What makes two requests the same: hex SHA-256 over the parts given.
    static func hash(_ parts: [some DataProtocol]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part))
            hasher.update(data: [0])
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Claims the key for this request; nil when it may go ahead, else the stored answer.
    /// Throws 409 while another request with the key is running.
    func claim(_ key: String) async throws -> StoredAnswer? {
        let since = Timestamp(Date().addingTimeInterval(-Self.window))
        switch try await self.repository.reserveIdempotencyKey(key, since: since) {
        case .reserved:
            return nil
        case .inProgress:
            throw APIError(.conflict, code: "idempotency_key_in_use", message: "a request with this Idempotency-Key is still running; retry shortly")
        case .answered(let answer):
            return answer
        }
    }

    /// The first answer again, if this request is the one it answered.
    func replay(_ answer: StoredAnswer, requestHash: String) throws -> Response {
        try Self.check(answer, requestHash: requestHash)
        return Response(
            status: .init(code: answer.status),
            headers: [.contentType: answer.contentType],
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }

    /// Refuses a stored answer that answered a different request.
    static func check(_ answer: StoredAnswer, requestHash: String) throws {
        guard answer.requestHash == requestHash else {
            throw APIError(
                .unprocessableContent,
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request in the last 24 hours"
            )
        }
    }

    /// Runs the claimed request and keeps its answer (see the type's comment).
    func run(key: String, requestHash: String, _ body: () async throws -> RenderedResponse) async throws -> Response {
        try await self.runRendered(key: key, requestHash: requestHash, body).response
    }

    /// `run`, for callers that are not HTTP routes (gRPC).
    func runRendered(key: String, requestHash: String, _ body: () async throws -> RenderedResponse) async throws -> RenderedResponse {
        let rendered: RenderedResponse
        do {
            rendered = try await body()
        } catch let error as APIError where error.status.code < 500 && error.status != .conflict {
            try await self.keep(RenderedResponse(error), key: key, requestHash: requestHash)
            throw error
        } catch {
            try? await self.repository.releaseIdempotencyKey(key)
            throw error
        }
        try await self.keep(rendered, key: key, requestHash: requestHash)
        return rendered
    }

    private func keep(_ rendered: RenderedResponse, key: String, requestHash: String) async throws {
        guard rendered.status.code < 500, rendered.status != .conflict else {
            try await self.repository.releaseIdempotencyKey(key)
            return
        }
        let answer = StoredAnswer(requestHash: requestHash, status: rendered.status.code, contentType: rendered.contentType, body: rendered.body)
        try await self.repository.completeIdempotencyKey(key, answer: answer)
    }
}

/// A JSON answer rendered to bytes, so that it can be kept for an idempotent retry.
struct RenderedResponse: Sendable {
    static let jsonType = "application/json; charset=utf-8"
    var status: HTTPResponse.Status
    var contentType = Self.jsonType
    var body: Data

    init(status: HTTPResponse.Status, json value: some Encodable) throws {
        self.status = status
        self.body = try JSONEncoder().encode(value)
    }

    init(status: HTTPResponse.Status, body: Data) {
        self.status = status
        self.body = body
    }

    init(_ error: APIError) {
        self.status = error.status
        self.contentType = "application/json"
        self.body = Data(error.json.readableBytesView)
    }

    var response: Response {
        Response(status: self.status, headers: [.contentType: self.contentType], body: .init(byteBuffer: ByteBuffer(bytes: self.body)))
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
