import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Protocol
import RequestParsing

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

/// A refused input (a call's fields, search parameters) over HTTP: 422 in the usual shape.
extension InputError: HTTPResponseError {
    public var status: HTTPResponse.Status { .unprocessableContent }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try APIError(self.status, code: self.code, message: self.message).response(from: request, context: context)
    }
}
