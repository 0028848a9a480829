import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Protocol

/// An error a client gets as `{"error":{"code","message"}}` with an HTTP status.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// Sent with the error: `Retry-After`, `WWW-Authenticate`.
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: self.json))
    }

    /// `{"error":{"code","message"}}`.
    var json: ByteBuffer {
        var body = ByteBuffer()
        body.writeStaticString(#"{"error":"#)
        body.writeErrorObjectJSON(code: self.code, message: self.message)
        body.writeStaticString("}")
        return body
    }
}
