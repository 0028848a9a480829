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
    /// Transcripts of a started session: where the chunk's audio lies in the stream.
    public var startMs: Int64?
    public var endMs: Int64?
    /// `started`, `resumed` and `stopped`.
    public var callID: String?
    public var resumeToken: String?
    public var nextSeq: UInt64?
    public var chunks: Int?
    public var bytes: Int64?
    public var durationSec: Double?
    public var errors: Int?
    /// `final`: the chunks a closed segment spans, its channel, text and (some engines) words.
    public var seqFrom: UInt64?
    public var seqTo: UInt64?
    public var channel: Int?
    public var text: String?
    public var words: [Word]?

    public struct Word: Codable, Equatable, Sendable {
        public var w: String
        public var startMs: Int64
        public var endMs: Int64

        public init(w: String, startMs: Int64, endMs: Int64) {
            self.w = w
            self.startMs = startMs
            self.endMs = endMs
        }

        enum CodingKeys: String, CodingKey {
            case w
            case startMs = "start_ms"
            case endMs = "end_ms"
        }
    }

    enum CodingKeys: String, CodingKey {
        case type
        case clientID = "client_id"
        case seq
        case chunkSize = "chunk_size"
        case transcription
        case error
        case startMs = "start_ms"
        case endMs = "end_ms"
        case callID = "call_id"
        case resumeToken = "resume_token"
        case nextSeq = "next_seq"
        case chunks, bytes, errors
        case durationSec = "duration_sec"
        case seqFrom = "seq_from"
        case seqTo = "seq_to"
        case channel, text, words
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
        self.startMs = try container.decodeIfPresent(Int64.self, forKey: .startMs)
        self.endMs = try container.decodeIfPresent(Int64.self, forKey: .endMs)
        self.callID = try container.decodeIfPresent(String.self, forKey: .callID)
        self.resumeToken = try container.decodeIfPresent(String.self, forKey: .resumeToken)
        self.nextSeq = try container.decodeIfPresent(UInt64.self, forKey: .nextSeq)
        self.chunks = try container.decodeIfPresent(Int.self, forKey: .chunks)
        self.bytes = try container.decodeIfPresent(Int64.self, forKey: .bytes)
        self.durationSec = try container.decodeIfPresent(Double.self, forKey: .durationSec)
        self.errors = try container.decodeIfPresent(Int.self, forKey: .errors)
        self.seqFrom = try container.decodeIfPresent(UInt64.self, forKey: .seqFrom)
        self.seqTo = try container.decodeIfPresent(UInt64.self, forKey: .seqTo)
        self.channel = try container.decodeIfPresent(Int.self, forKey: .channel)
        self.text = try container.decodeIfPresent(String.self, forKey: .text)
        self.words = try container.decodeIfPresent([Word].self, forKey: .words)
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
        switch self.type {
        case "pong": return .pong
        case "started": return .started
        case "resumed": return .resumed
        case "stopped": return .stopped
        case "final": return .final
        default: return .other
        }
    }

    public enum Kind: Sendable {
        case ack, transcript, error, pong, started, resumed, stopped, final, other
    }
}
