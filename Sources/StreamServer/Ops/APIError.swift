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

    init(_ status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: self.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: self.json))
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
