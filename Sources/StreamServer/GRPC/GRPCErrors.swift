import GRPCCore
import RequestParsing

/// The REST API's errors as gRPC statuses: the HTTP status picks the code, and the message
/// starts with the REST error code (`invalid_phone: …`), so clients of either API handle the
/// same errors the same way.
enum GRPCErrors {
    static func rpcError(_ error: any Error) -> RPCError {
        switch error {
        case let error as RPCError:
            return error
        case let error as APIError:
            return RPCError(code: Self.code(httpStatus: error.status.code), message: "\(error.code): \(error.message)")
        case let error as InputError:
            return RPCError(code: .invalidArgument, message: "\(error.code): \(error.message)")
        case let error where StorageFull.matches(error):
            return RPCError(code: .unavailable, message: "insufficient_storage: the server's storage is full")
        default:
            return RPCError(code: .internalError, message: "internal_error: the server failed to handle the request")
        }
    }

    static func code(httpStatus: Int) -> RPCError.Code {
        switch httpStatus {
        case 400, 415, 416, 422: .invalidArgument
        case 401: .unauthenticated
        case 403: .permissionDenied
        case 404: .notFound
        case 409: .alreadyExists
        case 413: .resourceExhausted
        case 503, 507: .unavailable
        default: .internalError
        }
    }

    /// A stored REST error answer (an idempotent replay) as a gRPC error.
    static func rpcError(status: Int, json: [String: Any]) -> RPCError {
        let error = json["error"] as? [String: Any]
        let code = error?["code"] as? String ?? "error"
        let message = error?["message"] as? String ?? ""
        return RPCError(code: Self.code(httpStatus: status), message: "\(code): \(message)")
    }
}
