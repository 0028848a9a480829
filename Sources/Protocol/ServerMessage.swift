/// A JSON message the server sends on `/api/audio/ws`, as a client decodes it.
///
/// Every field is optional so the same type also reads the original Python service's
/// messages (`{"client_id","seq","chunk_size"}` and `{"seq","transcription"}` without `type`).
public struct ServerMessage: Codable, Equatable, Sendable {
    public struct ErrorBody: Codable, Equatable, Sendable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var type: String?
    public var clientID: UInt64?
    public var seq: UInt64?
    public var chunkSize: Int?
    public var transcription: String?
    public var error: ErrorBody?

    enum CodingKeys: String, CodingKey {
        case type
        case clientID = "client_id"
        case seq
        case chunkSize = "chunk_size"
        case transcription
        case error
    }

    public init(
        type: String? = nil,
        clientID: UInt64? = nil,
        seq: UInt64? = nil,
        chunkSize: Int? = nil,
        transcription: String? = nil,
        error: ErrorBody? = nil
    ) {
        self.type = type
        self.clientID = clientID
        self.seq = seq
        self.chunkSize = chunkSize
        self.transcription = transcription
        self.error = error
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.type = try container.decodeIfPresent(String.self, forKey: .type)
        self.clientID = try container.decodeIfPresent(UInt64.self, forKey: .clientID)
        self.seq = try container.decodeIfPresent(UInt64.self, forKey: .seq)
        self.chunkSize = try container.decodeIfPresent(Int.self, forKey: .chunkSize)
        self.transcription = try container.decodeIfPresent(String.self, forKey: .transcription)
        // The original service sent `"error": "text"`; ours sends an object.
        if let body = try? container.decodeIfPresent(ErrorBody.self, forKey: .error) {
            self.error = body
        } else if let text = try? container.decodeIfPresent(String.self, forKey: .error) {
            self.error = ErrorBody(code: "error", message: text)
        } else {
            self.error = nil
        }
    }

    /// What kind of message this is, by its fields (works without `type`).
    public var kind: Kind {
        if self.transcription != nil { return .transcript }
        if self.chunkSize != nil { return .ack }
        if self.error != nil { return .error }
        if self.type == "pong" { return .pong }
        return .other
    }

    public enum Kind: Sendable {
        case ack, transcript, error, pong, other
    }
}
