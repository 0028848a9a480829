import Foundation
import Protocol

/// A control message that begins or resumes a session, checked field by field.
public enum SessionRequest {
    /// `{"type":"start","codec","sample_rate","channels","caller"?,"receiver"?,"started_at"?,"call_id"?,"private"?,"record"?}`
    public struct Start: Sendable {
        public var format: StreamFormat
        public var record: Bool
        /// The existing call to record into, or nil for a new one.
        public var callID: UUID?
        /// A new call's fields (empty numbers when the client gave none).
        public var caller: String
        public var receiver: String
        public var startedAt: Date
        public var isPrivate: Bool
        /// A new call's `external_id`.
        public var externalID: String? = nil
        /// Whether a call made beforehand with this `external_id` (and no recording yet)
        /// takes the session instead of a new call (Asterisk's UUID).
        public var joinsExternalID = false

        public init(
            format: StreamFormat,
            record: Bool,
            callID: UUID?,
            caller: String,
            receiver: String,
            startedAt: Date,
            isPrivate: Bool,
            externalID: String? = nil,
            joinsExternalID: Bool = false
        ) {
            self.format = format
            self.record = record
            self.callID = callID
            self.caller = caller
            self.receiver = receiver
            self.startedAt = startedAt
            self.isPrivate = isPrivate
            self.externalID = externalID
            self.joinsExternalID = joinsExternalID
        }
    }

    /// `{"type":"resume","resume_token","last_seq"}`
    public struct Resume: Sendable {
        public var token: String
        public var lastSeq: UInt64
    }

    /// What the client is told when a request is refused.
    public typealias Refusal = InputError

    public static func start(_ fields: [String: JSONValue]) throws(Refusal) -> Start {
        guard case .string(let name) = fields["codec"], let codec = StreamFormat.Codec(name: name) else {
            throw Refusal(code: "invalid_codec", message: "codec must be one of \(StreamFormat.Codec.allCases.map(\.name).joined(separator: ", "))")
        }
        guard case .number(let rateValue) = fields["sample_rate"], let rate = Int(exactly: rateValue), StreamFormat.sampleRates.contains(rate) else {
            throw Refusal(code: "invalid_sample_rate", message: "sample_rate must be an integer from 8000 to 48000")
        }
        if codec == .opus, !StreamFormat.opusSampleRates.contains(rate) {
            throw Refusal(code: "invalid_sample_rate", message: "opus streams must be 8000, 12000, 16000, 24000 or 48000 Hz")
        }
        guard case .number(let channelValue) = fields["channels"], let channels = Int(exactly: channelValue), channels == 1 || channels == 2 else {
            throw Refusal(code: "invalid_channels", message: "channels must be 1 or 2")
        }
        var record = true
        switch fields["record"] {
        case nil: break
        case .bool(let value): record = value
        default: throw Refusal(code: "invalid_record", message: "record must be true or false")
        }
        var start = Start(
            format: StreamFormat(codec: codec, sampleRate: rate, channels: channels),
            record: record,
            callID: nil,
            caller: "",
            receiver: "",
            startedAt: Date(),
            isPrivate: false
        )
        start.isPrivate = try CallFields.isPrivate(fields)
        if fields["caller"] != nil { start.caller = try CallFields.phone(fields, "caller") }
        if fields["receiver"] != nil { start.receiver = try CallFields.phone(fields, "receiver") }
        if fields["started_at"] != nil { start.startedAt = try CallFields.startedAt(fields) }
        start.externalID = try CallFields.externalID(fields)
        switch fields["call_id"] {
        case nil, .null: break
        case .string(let text):
            guard let id = UUID(uuidString: text) else { throw Refusal(code: "call_not_found", message: "no call with this id") }
            let newCallFields = ["caller", "receiver", "started_at", "private", "external_id"].filter { fields[$0] != nil }
            guard newCallFields.isEmpty else {
                throw Refusal(
                    code: "invalid_start",
                    message: "\(newCallFields.joined(separator: ", ")) describe a new call: leave them out with call_id"
                )
            }
            guard record else { throw Refusal(code: "invalid_start", message: "call_id needs record: true (the call gets this session's recording)") }
            start.callID = id
        default:
            throw Refusal(code: "call_not_found", message: "call_id must be a call's id")
        }
        return start
    }

    public static func resume(_ fields: [String: JSONValue]) throws(Refusal) -> Resume {
        guard case .string(let token) = fields["resume_token"], !token.isEmpty, token.utf8.count <= 256 else {
            throw Refusal(code: "resume_failed", message: "resume needs the resume_token from the session's started message")
        }
        guard case .number(let value) = fields["last_seq"], value >= 0, let lastSeq = UInt64(exactly: value) else {
            throw Refusal(code: "resume_failed", message: "last_seq must be the highest seq whose transcript arrived (0 for none)")
        }
        return Resume(token: token, lastSeq: lastSeq)
    }
}
