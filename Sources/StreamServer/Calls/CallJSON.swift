import Foundation
import RequestParsing
import Hummingbird

/// A call as the API shows it: dates in ISO 8601 UTC with milliseconds, `recording` null
/// until one is uploaded.
struct CallJSON: ResponseEncodable, Equatable {
    let item: CallWithRecording

    enum CodingKeys: String, CodingKey {
        case id, caller, receiver, status, recording
        case externalID = "external_id"
        case startedAt = "started_at"
        case isPrivate = "private"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        let call = self.item.call
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(call.id.uuidString.lowercased(), forKey: .id)
        try container.encode(call.caller, forKey: .caller)
        try container.encode(call.receiver, forKey: .receiver)
        try container.encode(call.externalID, forKey: .externalID)
        try container.encode(call.startedAt.iso8601, forKey: .startedAt)
        try container.encode(call.isPrivate, forKey: .isPrivate)
        try container.encode(call.status, forKey: .status)
        try container.encode(call.createdAt.iso8601, forKey: .createdAt)
        try container.encode(call.updatedAt.iso8601, forKey: .updatedAt)
        try container.encode(self.item.recording.map { RecordingJSON(recording: $0, status: call.status) }, forKey: .recording)
    }
}

/// A recording as the API shows it; `status` is its call's. Analysis fields are null until
/// the analysis is done.
struct RecordingJSON: ResponseEncodable, Equatable {
    let recording: Recording
    let status: CallStatus

    enum CodingKeys: String, CodingKey {
        case id, filename, format, sha256, transcription, status, error, origin
        case callID = "call_id"
        case sizeBytes = "size_bytes"
        case durationSec = "duration_sec"
        case silenceMarks = "silence_marks"
        case createdAt = "created_at"
        case archivedFormat = "archived_format"
    }

    func encode(to encoder: any Encoder) throws {
        let recording = self.recording
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(recording.id.uuidString.lowercased(), forKey: .id)
        try container.encode(recording.callID.uuidString.lowercased(), forKey: .callID)
        try container.encode(recording.filename, forKey: .filename)
        try container.encode(recording.format, forKey: .format)
        try container.encode(recording.origin, forKey: .origin)
        try container.encode(recording.sizeBytes, forKey: .sizeBytes)
        try container.encode(recording.sha256, forKey: .sha256)
        try container.encode(recording.durationSec, forKey: .durationSec)
        try container.encode(recording.transcription, forKey: .transcription)
        try container.encode(recording.silenceMarks, forKey: .silenceMarks)
        try container.encode(self.status, forKey: .status)
        try container.encode(recording.error, forKey: .error)
        try container.encode(recording.createdAt.iso8601, forKey: .createdAt)
        try container.encode(recording.archivedFormat, forKey: .archivedFormat)
    }
}

/// `GET /calls/{id}/transcript`.
struct TranscriptJSON: ResponseEncodable {
    struct Segment: Encodable {
        let seq: Int64
        let channel: Int64
        let startMs: Int64
        let endMs: Int64
        let text: String
        /// When the engine gives word times.
        let words: [TranscriptSegment.Word]?
        /// With `?q=`: whether the segment contains any of the words.
        let match: Bool?

        enum CodingKeys: String, CodingKey {
            case seq, channel, text, words, match
            case startMs = "start_ms"
            case endMs = "end_ms"
        }
    }

    let callID: String
    let segments: [Segment]

    enum CodingKeys: String, CodingKey {
        case segments
        case callID = "call_id"
    }

    init(callID: String, segments: [TranscriptSegment], matching: Set<Int64>? = nil) {
        self.callID = callID
        self.segments = segments.map {
            Segment(
                seq: $0.seq,
                channel: $0.channel,
                startMs: $0.startMs,
                endMs: $0.endMs,
                text: $0.text,
                words: $0.wordList,
                match: matching.map { [seq = $0.seq] in $0.contains(seq) }
            )
        }
    }
}

struct CallListJSON: ResponseEncodable {
    let total: Int
    let limit: Int
    let offset: Int
    let items: [CallJSON]
}

/// The body of `POST /calls`, read field by field so that each problem gets its own error.
struct NewCallRequest {
    var caller: String
    var receiver: String
    var startedAt: Timestamp
    var isPrivate: Bool
    var externalID: String?

    init(json: ByteBuffer) throws {
        guard let fields = JSONValue.object(Data(buffer: json)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "the body must be a JSON object")
        }
        self.caller = try CallFields.phone(fields, "caller")
        self.receiver = try CallFields.phone(fields, "receiver")
        self.startedAt = Timestamp(try CallFields.startedAt(fields))
        self.isPrivate = try CallFields.isPrivate(fields)
        self.externalID = try CallFields.externalID(fields)
    }
}
