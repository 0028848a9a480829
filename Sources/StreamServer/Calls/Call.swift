import RequestParsing
import Foundation
import GRDB

/// Where a call's recording is in its life: `created` (no recording yet) → `processing`
/// (uploaded, being analysed) → `ready`, or `failed` (the recording keeps the error).
enum CallStatus: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case created, processing, ready, failed
}

/// A row of `calls`. Phone numbers are stored normalised (`PhoneNumber`), times as epoch
/// milliseconds (`Timestamp`), ids as lowercase text.
struct Call: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "calls"

    var id: UUID
    var caller: String
    var receiver: String
    var startedAt: Timestamp
    var status: CallStatus
    var isPrivate: Bool
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// The telephony system's own id for the call (`external_id`), if it has one.
    var externalID: String? = nil

    enum CodingKeys: String, CodingKey {
        case id, caller, receiver, status
        case externalID = "external_id"
        case startedAt = "started_at"
        case isPrivate = "private"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let caller = Column(CodingKeys.caller)
        static let receiver = Column(CodingKeys.receiver)
        static let startedAt = Column(CodingKeys.startedAt)
        static let status = Column(CodingKeys.status)
        static let updatedAt = Column(CodingKeys.updatedAt)
        static let externalID = Column(CodingKeys.externalID)
    }

    static let recording = hasOne(Recording.self)

    // Ids as lowercase text (readable, and what the API shows).
    static func databaseUUIDEncodingStrategy(for column: String) -> DatabaseUUIDEncodingStrategy { .lowercaseString }
}
