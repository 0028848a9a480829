import Foundation
import GRDB

/// A row of `transcript_segments`: what the engine heard in one stretch of a call. A live
/// session stores one per chunk (`seq` is the chunk's); an upload's transcript is its
/// analysis's transcription as one segment.
struct TranscriptSegment: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "transcript_segments"

    var callID: UUID
    var seq: Int64
    var startMs: Int64
    var endMs: Int64
    var text: String

    enum CodingKeys: String, CodingKey {
        case seq, text
        case callID = "call_id"
        case startMs = "start_ms"
        case endMs = "end_ms"
    }

    enum Columns {
        static let callID = Column(CodingKeys.callID)
        static let seq = Column(CodingKeys.seq)
    }

    static func databaseUUIDEncodingStrategy(for column: String) -> DatabaseUUIDEncodingStrategy { .lowercaseString }
}
