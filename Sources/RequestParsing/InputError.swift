/// Why a client's input was refused: `code` is the machine-readable error the client gets (as
/// `{"error":{"code","message"}}` with 422 over HTTP, or in an error message on a stream).
public struct InputError: Error, Equatable, Sendable {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
